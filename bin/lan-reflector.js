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
await import('../dist/src/cli/main.js');
