import { Component, type ErrorInfo, type ReactNode } from 'react';
import { reportError } from './tracker';

interface Props {
  /** what to show instead of the broken tree; `reset` re-renders it */
  fallback: (error: Error, reset: () => void) => ReactNode;
  children: ReactNode;
}

export class ErrorBoundary extends Component<Props, { error: Error | null }> {
  override state = { error: null as Error | null };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  override componentDidCatch(error: Error, info: ErrorInfo): void {
    reportError(error, 'error', { source: 'error-boundary', component_stack: info.componentStack ?? '' });
  }

  override render() {
    if (this.state.error) return this.props.fallback(this.state.error, () => this.setState({ error: null }));
    return this.props.children;
  }
}
