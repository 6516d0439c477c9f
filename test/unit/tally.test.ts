/** Consensus tallies: approval and ranked choice (instant runoff), with thresholds. */
import { describe, expect, it } from 'vitest';
import { tallyApproval, tallyRanked } from '../../runtime/rooms/tally.js';
import { mentionedHandles } from '../../runtime/rooms/orchestrator.js';

describe('approval tally', () => {
  it('counts approvals and finds a majority winner', () => {
    const result = tallyApproval(
      ['a', 'b', 'c'],
      [
        { voter: 'x', choices: ['a', 'b'] },
        { voter: 'y', choices: ['a'] },
        { voter: 'z', choices: ['c', 'a', 'a'] },
      ],
      0.5,
    );
    expect(result.counts).toEqual({ a: 3, b: 1, c: 1 });
    expect(result).toMatchObject({ winner: 'a', share: 1, reached: true });
  });

  it('reports no winner on a tie, and a winner below the threshold as not reached', () => {
    expect(tallyApproval(['a', 'b'], [{ voter: 'x', choices: ['a'] }, { voter: 'y', choices: ['b'] }], 0.5)).toMatchObject({ winner: null, reached: false });
    const twoOfFour = tallyApproval(
      ['a', 'b'],
      [
        { voter: 'w', choices: ['a'] },
        { voter: 'x', choices: ['a'] },
        { voter: 'y', choices: ['b'] },
        { voter: 'z', choices: [] },
      ],
      0.5,
    );
    expect(twoOfFour).toMatchObject({ winner: 'a', share: 0.5, reached: false });
  });
});

describe('ranked-choice tally', () => {
  it('eliminates the weakest and transfers its ballots until a majority', () => {
    // First preferences: a 2, b 2, c 1 → c is eliminated, its ballot goes to b → b 3 of 5.
    const result = tallyRanked(
      ['a', 'b', 'c'],
      [
        { voter: '1', choices: ['a', 'b', 'c'] },
        { voter: '2', choices: ['a', 'c', 'b'] },
        { voter: '3', choices: ['b', 'a', 'c'] },
        { voter: '4', choices: ['b', 'c', 'a'] },
        { voter: '5', choices: ['c', 'b', 'a'] },
      ],
      0.5,
    );
    expect(result.rounds).toEqual([{ a: 2, b: 2, c: 1 }, { a: 2, b: 3 }]);
    expect(result).toMatchObject({ winner: 'b', share: 0.6, reached: true });
  });

  it('needs the threshold of all ballots, not only of those still counting', () => {
    const result = tallyRanked(
      ['a', 'b'],
      [
        { voter: '1', choices: ['a'] },
        { voter: '2', choices: ['a'] },
        { voter: '3', choices: ['b'] },
      ],
      0.7,
    );
    expect(result).toMatchObject({ winner: 'a', reached: false });
  });
});

describe('mentions', () => {
  it('finds @handles and @all among the participants, in order, once each', () => {
    const handles = ['alex', 'sam', 'jordan'];
    expect(mentionedHandles('hey @Sam and @alex, also @sam again', handles)).toEqual(['sam', 'alex']);
    expect(mentionedHandles('@all thoughts?', handles)).toEqual(handles);
    expect(mentionedHandles('mail me at x@alex.com or @nobody', handles)).toEqual([]);
  });
});
