#!/usr/bin/env node
// Generates TypeScript for every proto/**/*.proto into proto/gen with ts-proto.
// `--check` generates into a temporary folder and fails when proto/gen differs (CI freshness).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, mkdirSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PROTO_DIR = join(ROOT, 'proto');
const GEN_DIR = join(PROTO_DIR, 'gen');
const PROTOC = process.env.PROTOC ?? 'protoc';
const PLUGIN = join(ROOT, 'node_modules', '.bin', 'protoc-gen-ts_proto');

const TS_PROTO_OPTIONS = [
  'outputServices=grpc-js',
  'env=node',
  'esModuleInterop=true',
  'forceLong=number',
  'useExactTypes=false',
  'useOptionals=none',
  'oneof=properties',
  'useDate=false',
  'exportCommonSymbols=false',
];

function listFiles(dir, suffix, skip = []) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (skip.includes(path)) continue;
    if (statSync(path).isDirectory()) out.push(...listFiles(path, suffix, skip));
    else if (name.endsWith(suffix)) out.push(path);
  }
  return out.sort();
}

function generate(outDir) {
  mkdirSync(outDir, { recursive: true });
  const protos = listFiles(PROTO_DIR, '.proto', [GEN_DIR]).map((p) => relative(PROTO_DIR, p));
  if (protos.length === 0) throw new Error(`no .proto files under ${PROTO_DIR}`);
  execFileSync(
    PROTOC,
    [
      `--plugin=protoc-gen-ts_proto=${PLUGIN}`,
      `--ts_proto_out=${outDir}`,
      `--ts_proto_opt=${TS_PROTO_OPTIONS.join(',')}`,
      `--proto_path=${PROTO_DIR}`,
      ...protos,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  return protos;
}

function snapshot(dir) {
  const files = new Map();
  let paths = [];
  try {
    paths = listFiles(dir, '');
  } catch {
    return files;
  }
  for (const p of paths) files.set(relative(dir, p), readFileSync(p, 'utf8'));
  return files;
}

function check() {
  const tmp = mkdtempSync(join(tmpdir(), 'podploy-proto-'));
  try {
    generate(tmp);
    const fresh = snapshot(tmp);
    const committed = snapshot(GEN_DIR);
    const stale = [];
    for (const [path, text] of fresh) if (committed.get(path) !== text) stale.push(committed.has(path) ? `changed: ${path}` : `missing: ${path}`);
    for (const path of committed.keys()) if (!fresh.has(path)) stale.push(`extra: ${path}`);
    if (stale.length > 0) {
      console.error(`proto/gen is out of date with proto/**/*.proto:\n  ${stale.join('\n  ')}\nrun \`npm run proto:gen\` and commit proto/gen.`);
      process.exit(1);
    }
    console.log(`proto/gen is up to date (${fresh.size} files).`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function write() {
  const tmp = mkdtempSync(join(tmpdir(), 'podploy-proto-'));
  try {
    const protos = generate(tmp);
    rmSync(GEN_DIR, { recursive: true, force: true });
    cpSync(tmp, GEN_DIR, { recursive: true });
    console.log(`generated proto/gen from ${protos.join(', ')}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv.includes('--check')) check();
else write();
