#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Starts s3rver on loopback for the storage-s3 tests and prints "ready <port>"
// once it accepts connections.
//
//   node start-s3rver.js --port 0 --directory DIR --bucket NAME [--bucket …]
//                        [--access-key ID --secret-key SECRET] [--host ADDRESS]
//
// --host is the address to listen on (default 127.0.0.1); the multi-host
// tests give 0.0.0.0 so workers in other network namespaces reach it.
//
// s3rver 3.x has no AbortMultipartUpload (DELETE …?uploadId=); the front
// answers it by removing the upload's parts from s3rver's store, where
// s3rver keeps them under <directory>/<bucket>/._S3rver_uploads/<uploadId>/,
// so tests can check that a dropped upload leaves nothing.
//
// s3rver accepts any AWS Signature V4 without checking it, so a small front
// verifies every request (Authorization header and presigned query alike)
// with an independent implementation on node's crypto before handing it to
// s3rver. Unsigned and wrongly signed requests get S3's own 403 errors, so the
// tests exercise the C signer against real traffic, not only known answers.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');

// s3rver seals its ListObjectsV2 continuation tokens with single DES, which
// the OpenSSL 3 of node >= 17 no longer offers, so every truncated listing
// fails with InternalError. Triple DES with three equal keys is single DES
// (the EDE steps cancel), and the default provider still has it.
for (const name of ['createCipheriv', 'createDecipheriv']) {
  const original = crypto[name];
  crypto[name] = function (algorithm, key, iv, ...rest) {
    if (String(algorithm).toLowerCase() === 'des')
      return original.call(this, 'des-ede3-cbc', Buffer.concat([key, key, key]), iv, ...rest);
    return original.call(this, algorithm, key, iv, ...rest);
  };
}

const S3rver = require('s3rver');
const AWSAccount = require('s3rver/lib/models/account');

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', port: 0, directory: null, buckets: [], accessKey: 'S3RVER', secretKey: 'S3RVER' };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--host': opts.host = v; i++; break;
      case '--port': opts.port = Number(v); i++; break;
      case '--directory': opts.directory = v; i++; break;
      case '--bucket': opts.buckets.push(v); i++; break;
      case '--access-key': opts.accessKey = v; i++; break;
      case '--secret-key': opts.secretKey = v; i++; break;
      default:
        throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!opts.directory) throw new Error('--directory is required');
  return opts;
}

// RFC 3986 unreserved characters stay, everything else is %XX (upper case).
function uriEncode(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function decode(s) {
  return decodeURIComponent(s.replace(/\+/g, '%20'));
}

const sha256 = s => crypto.createHash('sha256').update(s, 'utf8').digest('hex');
const hmac = (k, s) => crypto.createHmac('sha256', k).update(s, 'utf8').digest();

function s3Error(res, status, code, message) {
  res.writeHead(status, { 'Content-Type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
          `<Message>${message}</Message></Error>`);
}

// Returns null when the request is correctly signed, else [status, code, message].
function verify(req, secrets) {
  const qpos = req.url.indexOf('?');
  const rawPath = qpos < 0 ? req.url : req.url.slice(0, qpos);
  const rawQuery = qpos < 0 ? '' : req.url.slice(qpos + 1);
  const params = rawQuery === '' ? [] : rawQuery.split('&').map(p => {
    const eq = p.indexOf('=');
    return eq < 0 ? [decode(p), ''] : [decode(p.slice(0, eq)), decode(p.slice(eq + 1))];
  });
  const query = Object.fromEntries(params);

  let accessKey, scope, signedHeaders, signature, amzDate, payloadHash;
  const presigned = 'X-Amz-Algorithm' in query;
  if (presigned) {
    if (query['X-Amz-Algorithm'] !== 'AWS4-HMAC-SHA256')
      return [400, 'AuthorizationQueryParametersError', 'unsupported algorithm'];
    [accessKey, ...scope] = (query['X-Amz-Credential'] || '').split('/');
    signedHeaders = (query['X-Amz-SignedHeaders'] || '').split(';');
    signature = query['X-Amz-Signature'];
    amzDate = query['X-Amz-Date'] || '';
    payloadHash = 'UNSIGNED-PAYLOAD';
    const expires = Number(query['X-Amz-Expires']);
    const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(amzDate);
    if (!m || !(expires > 0 && expires <= 604800))
      return [400, 'AuthorizationQueryParametersError', 'bad X-Amz-Date or X-Amz-Expires'];
    const t = Date.UTC(m[1], m[2] - 1, m[3], m[4], m[5], m[6]);
    if (Date.now() > t + expires * 1000)
      return [403, 'AccessDenied', 'Request has expired'];
  } else {
    const auth = req.headers['authorization'];
    if (!auth)
      return [403, 'AccessDenied', 'Anonymous access is forbidden'];
    const m = /^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m)
      return [400, 'InvalidArgument', 'malformed Authorization header'];
    [accessKey, ...scope] = m[1].split('/');
    signedHeaders = m[2].split(';');
    signature = m[3];
    amzDate = req.headers['x-amz-date'] || '';
    payloadHash = req.headers['x-amz-content-sha256'];
    if (!payloadHash)
      return [400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256'];
  }
  const secret = secrets.get(accessKey);
  if (secret === undefined)
    return [403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.'];
  if (scope.length !== 4 || scope[2] !== 's3' || scope[3] !== 'aws4_request' ||
      scope[0] !== amzDate.slice(0, 8))
    return [400, 'AuthorizationHeaderMalformed', 'bad credential scope'];
  if (!signedHeaders.includes('host'))
    return [400, 'InvalidArgument', 'host must be signed'];

  const canonicalUri = rawPath.split('/').map(s => uriEncode(decode(s))).join('/');
  const canonicalQuery = params
    .filter(([k]) => !(presigned && k === 'X-Amz-Signature'))
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = signedHeaders
    .map(h => `${h}:${String(req.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const canonicalRequest = [req.method, canonicalUri, canonicalQuery, canonicalHeaders,
                            signedHeaders.join(';'), payloadHash].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope.join('/'), sha256(canonicalRequest)].join('\n');
  let key = hmac('AWS4' + secret, scope[0]);
  key = hmac(key, scope[1]);
  key = hmac(key, scope[2]);
  key = hmac(key, scope[3]);
  const expected = crypto.createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
  if (expected !== signature) {
    process.stderr.write(`signature mismatch for ${req.method} ${rawPath}\n${canonicalRequest}\n`);
    return [403, 'SignatureDoesNotMatch',
            'The request signature we calculated does not match the signature you provided. ' +
            'Check your key and signing method.'];
  }
  return null;
}

// DELETE /<bucket>/<key>?uploadId=<id>; true when handled here.
function abortUpload(req, res, directory) {
  const url = new URL(req.url, 'http://localhost');
  const uploadId = url.searchParams.get('uploadId');
  const [, bucket, ...key] = url.pathname.split('/');
  if (req.method !== 'DELETE' || uploadId === null || key.length === 0)
    return false;
  req.resume();
  const dir = path.join(directory, decodeURIComponent(bucket), '._S3rver_uploads', uploadId);
  if (!/^[0-9a-f]+$/.test(uploadId) || !fs.existsSync(dir)) {
    s3Error(res, 404, 'NoSuchUpload', 'The specified upload does not exist.');
    return true;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  res.writeHead(204);
  res.end();
  return true;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.accessKey !== 'S3RVER')
    AWSAccount.DUMMY_ACCOUNT.createKeyPair(opts.accessKey, opts.secretKey);
  const secrets = new Map([[opts.accessKey, opts.secretKey]]);

  const s3rver = new S3rver({
    silent: true,
    directory: opts.directory,
    // path-style only: a loopback host name is never a bucket here
    vhostBuckets: false,
    configureBuckets: opts.buckets.map(name => ({ name })),
  });
  await s3rver.configureBuckets();
  const handle = s3rver.callback();

  const server = http.createServer((req, res) => {
    const refused = verify(req, secrets);
    if (refused) {
      req.resume();
      s3Error(res, ...refused);
      return;
    }
    if (!abortUpload(req, res, opts.directory))
      handle(req, res);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, resolve);
  });
  process.stdout.write(`ready ${server.address().port}\n`);

  // the test owns us: stop when it closes our stdin or goes away
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
  for (const sig of ['SIGTERM', 'SIGINT'])
    process.on(sig, () => process.exit(0));
}

main().catch(err => {
  process.stderr.write(`start-s3rver: ${err.stack || err}\n`);
  process.exit(1);
});
