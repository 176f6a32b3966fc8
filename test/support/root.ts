/**
 * Integration suites create network namespaces, which needs root. Without it they must not fail and
 * must not vanish either: they show up as one pending test that says why.
 */

export const NEEDS_ROOT = 'is pending: integration tests need root to create network namespaces';

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * `describe`, but when not root the body is not even evaluated (so no `before` hook builds a bed):
 * the suite holds a single pending test instead (an `it` with no callback is pending in mocha).
 */
export function describeAsRoot(title: string, body: (this: Mocha.Suite) => void): Mocha.Suite {
  return describe(title, function (this: Mocha.Suite) {
    if (!isRoot()) {
      it(NEEDS_ROOT);
      return;
    }
    body.call(this);
  });
}
