import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatPath, pointerSegments } from './issues.js';

describe('JSON pointers as paths', () => {
  it('unescapes keys and turns array indices into numbers', () => {
    assert.deepEqual(pointerSegments(''), []);
    assert.deepEqual(pointerSegments('/events/3/a~1b~0c'), ['events', 3, 'a/b~c']);
    assert.equal(formatPath(pointerSegments('/events/3/flag')), 'events[3].flag');
  });

  it('keeps a digit key too long to be a safe index as a string, rather than round it', () => {
    assert.deepEqual(pointerSegments('/environments/1234567890123456789'), [
      'environments',
      '1234567890123456789',
    ]);
    assert.deepEqual(pointerSegments('/items/007'), ['items', '007']);
  });
});
