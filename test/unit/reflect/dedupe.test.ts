import assert from 'node:assert/strict';
import { DedupeWindow } from '../../../src/reflect/dedupe.js';

const SEGMENT = Buffer.from('an mDNS answer');

describe('DedupeWindow', () => {
  it('lets a packet through once, then drops its repeats within the window, then lets it through again', () => {
    const w = new DedupeWindow(30);
    const k = DedupeWindow.key('192.168.1.50', SEGMENT);
    assert.equal(w.isDuplicate(k, 1000), false, 'first sighting');
    assert.equal(w.isDuplicate(k, 1001), true, 'repeat 1 ms later');
    assert.equal(w.isDuplicate(k, 1029), true, 'repeat at the last moment of the window');
    assert.equal(w.isDuplicate(k, 1030), false, 'the window has passed');
    assert.equal(w.isDuplicate(k, 1031), true, 'and the new sighting opened a new window');
  });

  it('does not stretch the window on repeats: a steady echo is let through once per window', () => {
    const w = new DedupeWindow(30);
    const k = DedupeWindow.key('192.168.1.50', SEGMENT);
    const through = [0, 10, 20, 30, 40, 50, 60].filter((t) => !w.isDuplicate(k, t));
    assert.deepEqual(through, [0, 30, 60]);
  });

  it('tells packets apart by source address and by content', () => {
    const w = new DedupeWindow(30);
    assert.equal(w.isDuplicate(DedupeWindow.key('192.168.1.50', SEGMENT), 0), false);
    assert.equal(w.isDuplicate(DedupeWindow.key('192.168.1.51', SEGMENT), 0), false, 'other source');
    assert.equal(
      w.isDuplicate(DedupeWindow.key('192.168.1.50', Buffer.from('other')), 0),
      false,
      'other bytes',
    );
    assert.equal(
      w.isDuplicate(DedupeWindow.key('192.168.1.50', Buffer.from(SEGMENT)), 0),
      true,
      'same bytes',
    );
  });

  it('builds the same key for equal content in different buffers', () => {
    assert.equal(
      DedupeWindow.key('10.1.0.1', Buffer.from('x')),
      DedupeWindow.key('10.1.0.1', Buffer.from('x')),
    );
  });

  it('with a window of 0 drops nothing and remembers nothing', () => {
    const w = new DedupeWindow(0);
    const k = DedupeWindow.key('192.168.1.50', SEGMENT);
    assert.equal(w.isDuplicate(k, 0), false);
    assert.equal(w.isDuplicate(k, 0), false);
    assert.equal(w.size, 0);
  });

  it('stays bounded: past its size it forgets the oldest packets first', () => {
    const w = new DedupeWindow(1000, 10);
    const keys = Array.from({ length: 11 }, (_, i) => DedupeWindow.key(`10.1.0.${i}`, Buffer.from('x')));
    for (const k of keys) assert.equal(w.isDuplicate(k, 0), false);
    assert.ok(w.size <= 10, `size ${w.size}`);
    assert.equal(w.isDuplicate(keys[0], 1), false, 'the oldest was forgotten');
    assert.equal(w.isDuplicate(keys[10], 1), true, 'the newest is remembered');
  });

  const key = (s: string) => DedupeWindow.key('10.1.0.1', Buffer.from(s));

  it('forgets expired packets before live ones when it is full', () => {
    const w = new DedupeWindow(30, 10);
    for (let i = 0; i < 5; i++) w.isDuplicate(key(`old${i}`), 0); // expire at 30
    for (let i = 0; i < 6; i++) w.isDuplicate(key(`new${i}`), 100); // the 11th entry triggers eviction
    assert.equal(w.size, 6);
    for (let i = 0; i < 6; i++) assert.equal(w.isDuplicate(key(`new${i}`), 101), true);
  });

  it('holds at most its size under a flood of distinct packets', () => {
    const w = new DedupeWindow(1000, 100);
    for (let i = 0; i < 10_000; i++) w.isDuplicate(key(`k${i}`), i / 100);
    assert.ok(w.size <= 100, `size ${w.size}`);
  });
});
