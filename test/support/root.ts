/**
 * Integration suites create network namespaces, which needs root. On a developer's machine without
 * it they must not fail and must not vanish either: they show up as one pending test that says why.
 * Under CI (`.ci/run` sets CI=true, and runs as root) a suite that cannot run is a failure: a CI
 * run whose integration suites all pended would otherwise report green having tested nothing.
 */

export const NEEDS_ROOT = 'is pending: integration tests need root to create network namespaces';

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export const inCi = (env: NodeJS.ProcessEnv = process.env): boolean => env.CI === 'true' || env.CI === '1';

/**
 * `describe`, but when not root the body is not even evaluated (so no `before` hook builds a bed):
 * the suite holds a single pending test instead (an `it` with no callback is pending in mocha), or,
 * under CI, a test that fails saying why.
 */
export function describeAsRoot(title: string, body: (this: Mocha.Suite) => void): Mocha.Suite {
  return describe(title, function (this: Mocha.Suite) {
    if (!isRoot()) {
      if (inCi())
        it('runs: CI must run the integration suites as root', () => {
          throw new Error('CI=true but not root: the integration suites cannot create network namespaces');
        });
      else it(NEEDS_ROOT);
      return;
    }
    body.call(this);
  });
}
