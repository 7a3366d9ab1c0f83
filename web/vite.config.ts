import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// webencoded serves dist/ at the site root and answers unknown non-API
// paths with index.html, so absolute asset URLs work on deep links.
// `npm run dev` proxies the API to a local webencoded.
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2020',
  },
  server: {
    proxy: {
      '/v1': { target: process.env.WE_API ?? 'http://127.0.0.1:8080', ws: true },
      '/health': process.env.WE_API ?? 'http://127.0.0.1:8080',
    },
  },
});
