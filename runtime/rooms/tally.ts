/**
 * Vote tallies for consensus rounds and polls, pluggable by method:
 * `approval` (each ballot approves any number of options; most approvals
 * wins) and `ranked` (instant-runoff: the option with the fewest first
 * preferences is eliminated until one has a majority). A winner's share of
 * all ballots must be strictly more than the threshold (0.5 by default: a
 * majority; 0.66 for two thirds).
 */
export type VoteMethod = 'approval' | 'ranked';

export interface Ballot {
  voter: string;
  /** Approval: the options approved. Ranked: options in order of preference. */
  choices: string[];
}

export interface TallyResult {
  method: VoteMethod;
  /** Final counts per option (approvals, or first preferences in the last round). */
  counts: Record<string, number>;
  /** Instant-runoff rounds (ranked only), each with its counts. */
  rounds: Record<string, number>[];
  winner: string | null;
  /** The winner's share of ballots. */
  share: number;
  reached: boolean;
}

export type Tally = (options: string[], ballots: Ballot[], threshold: number) => TallyResult;

export const tallyApproval: Tally = (options, ballots, threshold) => {
  const counts = Object.fromEntries(options.map((o) => [o, 0]));
  for (const ballot of ballots) for (const choice of new Set(ballot.choices)) if (choice in counts) counts[choice]! += 1;
  const ranked = Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const [top, second] = ranked;
  const tie = !!top && !!second && top[1] === second[1];
  const share = top && ballots.length > 0 ? top[1] / ballots.length : 0;
  const winner = top && !tie && top[1] > 0 ? top[0] : null;
  return { method: 'approval', counts, rounds: [counts], winner, share, reached: winner !== null && share > threshold };
};

export const tallyRanked: Tally = (options, ballots, threshold) => {
  let remaining = [...options];
  const rounds: Record<string, number>[] = [];
  for (;;) {
    const counts = Object.fromEntries(remaining.map((o) => [o, 0]));
    let valid = 0;
    for (const ballot of ballots) {
      const first = ballot.choices.find((c) => remaining.includes(c));
      if (first) {
        counts[first]! += 1;
        valid += 1;
      }
    }
    rounds.push(counts);
    const ordered = Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const top = ordered[0];
    if (!top || valid === 0) return { method: 'ranked', counts, rounds, winner: null, share: 0, reached: false };
    const share = top[1] / valid;
    if (share > 0.5 || remaining.length === 1) {
      const overall = top[1] / Math.max(ballots.length, 1);
      return { method: 'ranked', counts, rounds, winner: top[0], share: overall, reached: overall > threshold };
    }
    // Eliminate the weakest (ties: the alphabetically last, so results are deterministic).
    const lowest = Math.min(...ordered.map(([, n]) => n));
    const out = ordered.filter(([, n]) => n === lowest).map(([o]) => o).sort().at(-1)!;
    remaining = remaining.filter((o) => o !== out);
  }
};

export const TALLIES: Record<VoteMethod, Tally> = { approval: tallyApproval, ranked: tallyRanked };
