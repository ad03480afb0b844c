// A Terminal open the agent refuses before anything runs; `code` is how the RPC reports it.
export type TerminalRefusal = 'invalid' | 'not_found' | 'failed_precondition' | 'unavailable';

export class TerminalRefused extends Error {
  constructor(
    readonly code: TerminalRefusal,
    message: string,
  ) {
    super(message);
    this.name = 'TerminalRefused';
  }
}
