/*
 * Raw mode for a console's host terminal, restored on every way out, and the
 * Ctrl-A escape filter for what is typed on it.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "spry/terminal.h"

/* Saved for the exit and fatal-signal paths, which cannot reach any console. */
static struct termios saved_termios;
static volatile sig_atomic_t saved_fd = -1;

void terminal_restore(void)
{
	int fd = saved_fd;

	if (fd >= 0) {
		tcsetattr(fd, TCSANOW, &saved_termios);
		saved_fd = -1;
	}
}

static void restore_on_fatal_signal(int sig)
{
	terminal_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void register_restore(void)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE };
	static bool registered;

	if (registered)
		return;
	registered = true;
	atexit(terminal_restore);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], restore_on_fatal_signal);
}

bool terminal_make_raw(int fd)
{
	struct termios orig, raw;
	bool held = saved_fd == fd;

	if (fd < 0 || (saved_fd >= 0 && !held) || !isatty(fd) || tcgetattr(fd, &orig) < 0)
		return false;
	raw = orig;
	cfmakeraw(&raw);
	if (tcsetattr(fd, TCSANOW, &raw) < 0)
		return false;
	if (!held) {
		saved_termios = orig;
		atomic_signal_fence(memory_order_release);	/* saved before a handler can see it */
		saved_fd = fd;
		register_restore();
	}
	return true;
}

size_t escape_filter_apply(struct escape_filter *f, uint8_t *buf, size_t n, bool *quit)
{
	size_t out = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t ch = buf[i];

		if (f->pending) {
			f->pending = false;
			if (ch == 'x' || ch == 'X') {
				*quit = true;
				return out;
			}
			if (ch != TERMINAL_ESCAPE_CHAR)
				continue;
		} else if (ch == TERMINAL_ESCAPE_CHAR) {
			f->pending = true;
			continue;
		}
		buf[out++] = ch;
	}
	return out;
}
