/** Messages for the user (desktop notification and log). */
export interface UserNotifier {
  notify(n: { title: string; message: string }): void;
}
