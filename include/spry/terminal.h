/*
 * The host terminal behind a console on spry's stdio: raw mode with the
 * original settings put back on every exit path (normal exit, destroy, fatal
 * signal), and the Ctrl-A escape that lets the user quit, as in QEMU.
 */
#ifndef SPRY_TERMINAL_H
#define SPRY_TERMINAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TERMINAL_ESCAPE_CHAR	0x01	/* Ctrl-A */

/*
 * Put the terminal on @fd in raw mode. Its original settings are saved once
 * (a second call for the same fd keeps them) and put back by
 * terminal_restore(), at exit and on fatal signals. One terminal at a time:
 * false when @fd is not a terminal, cannot be set, or another one is held.
 */
bool terminal_make_raw(int fd);
/* Put the held terminal back as it was and let it go. Async-signal safe. */
void terminal_restore(void);

/* Escape state carried across reads; zero-initialise. */
struct escape_filter {
	bool pending;		/* the last byte seen was an unpaired Ctrl-A */
};

/*
 * Strip the escape out of the @n bytes at @buf, in place, and return how many
 * are left for the guest. Ctrl-A Ctrl-A passes one Ctrl-A, Ctrl-A x (or X)
 * sets *@quit and drops the rest, Ctrl-A and any other byte drops both.
 * *@quit is only ever set, never cleared.
 */
size_t escape_filter_apply(struct escape_filter *f, uint8_t *buf, size_t n, bool *quit);

#endif
