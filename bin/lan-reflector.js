#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (npm install runs the build through "prepare").
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  process.stderr.write(
    `lan-reflector needs Node.js 22 (this is ${process.version}). From a checkout, run it through npx ` +
      '(`npx lan-reflector ...`): the project installs Node 22 into node_modules/.bin.\n',
  );
  process.exit(1);
}
// The agent runs with a 1 MB cap on V8's semi-spaces. Under a burst of packets (junk included) the
// young generation otherwise grows to 16 MB per semi-space and never gives the memory back: measured,
// RSS rose from 71 to 89 MB after 100,000 junk packets and stayed; capped, 67 -> 76 MB, back to 65 MB
// within 20 s. The cap is a start-up flag (V8 ignores it at run time), so the launcher re-executes
// itself with it, in place (same pid, same signals). NODE_OPTIONS or a flag of the user's own wins.
const SEMI = '--max-semi-space-size';
if (
  process.argv[2] === 'agent' &&
  typeof process.execve === 'function' &&
  !process.execArgv.some((a) => a.startsWith(SEMI)) &&
  !(process.env.NODE_OPTIONS ?? '').includes(SEMI)
) {
  const env = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${SEMI}=1`.trim() };
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], env);
}
await import('../dist/src/cli/main.js');
