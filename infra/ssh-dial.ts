/**
 * How long `pulumi up` keeps dialling a VM over SSH; pure, so tests read it without the Pulumi runtime.
 *
 * pulumi-command 1.2.1 (provider/pkg/provider/remote/connection.go, dialWithRetry) retries a failed
 * dial through pulumi's retry.Until (sdk/go/common/util/retry/until.go): 100 ms after the first
 * failure, each delay 1.5 times the last, at most 5 s; it gives up when the number of failed dials
 * exceeds `dialErrorLimit`. A refused connection fails at once, so the budget is the sum of the
 * delays: 60 gave 4.4 minutes. A node reboots once on its first boot and every VM takes a while to
 * start sshd: ten minutes of refused dials are allowed.
 */
export const RETRY = { firstDelaySeconds: 0.1, backoff: 1.5, maxDelaySeconds: 5 };

/** The seconds spent waiting between dials before `limit` failures give up, when each dial fails at once. */
export function dialBudgetSeconds(limit: number): number {
  let total = 0;
  let delay = RETRY.firstDelaySeconds;
  for (let failure = 1; failure <= limit; failure++) {
    total += Math.min(delay, RETRY.maxDelaySeconds);
    delay *= RETRY.backoff;
  }
  return total;
}

/** 130 refused dials: 11 s of growing delays, then 120 of 5 s, about 10.2 minutes. */
export const DIAL = { dialErrorLimit: 130, perDialTimeout: 10 };
