/*
 * The host terminal helpers: the Ctrl-A escape filter on its own, and raw
 * mode on a real pty, saved once and put back by terminal_restore().
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <cmocka.h>

#include "spry/terminal.h"

/* Run @in through a fresh filter; returns the bytes kept, left in @out. */
static size_t filter(const char *in, size_t n, uint8_t *out, bool *quit)
{
	struct escape_filter f = { 0 };

	memcpy(out, in, n);
	*quit = false;
	return escape_filter_apply(&f, out, n, quit);
}

static void plain_bytes_pass(void **state)
{
	uint8_t buf[16];
	bool quit;

	(void)state;
	assert_int_equal(filter("hello\r\n", 7, buf, &quit), 7);
	assert_memory_equal(buf, "hello\r\n", 7);
	assert_false(quit);
	assert_int_equal(filter("", 0, buf, &quit), 0);
	assert_false(quit);
}

static void ctrl_a_x_quits(void **state)
{
	uint8_t buf[16];
	bool quit;

	(void)state;
	/* What follows the escape is dropped. */
	assert_int_equal(filter("ab\x01xcd", 6, buf, &quit), 2);
	assert_memory_equal(buf, "ab", 2);
	assert_true(quit);
	assert_int_equal(filter("\x01X", 2, buf, &quit), 0);
	assert_true(quit);
}

static void ctrl_a_twice_is_one(void **state)
{
	uint8_t buf[16];
	bool quit;

	(void)state;
	assert_int_equal(filter("a\x01\x01z", 4, buf, &quit), 3);
	assert_memory_equal(buf, "a\x01z", 3);
	assert_false(quit);
	/* Two pairs, two Ctrl-As; the second Ctrl-A of a pair starts nothing. */
	assert_int_equal(filter("\x01\x01\x01\x01x", 5, buf, &quit), 3);
	assert_memory_equal(buf, "\x01\x01x", 3);
	assert_false(quit);
}

static void ctrl_a_other_drops_both(void **state)
{
	uint8_t buf[16];
	bool quit;

	(void)state;
	assert_int_equal(filter("a\x01qb", 4, buf, &quit), 2);
	assert_memory_equal(buf, "ab", 2);
	assert_false(quit);
}

static void escape_split_across_reads(void **state)
{
	struct escape_filter f = { 0 };
	uint8_t buf[16];
	bool quit = false;

	(void)state;
	memcpy(buf, "ab\x01", 3);
	assert_int_equal(escape_filter_apply(&f, buf, 3, &quit), 2);
	assert_memory_equal(buf, "ab", 2);
	assert_false(quit);
	memcpy(buf, "\x01" "c", 2);
	assert_int_equal(escape_filter_apply(&f, buf, 2, &quit), 2);
	assert_memory_equal(buf, "\x01" "c", 2);
	assert_false(quit);
	memcpy(buf, "d\x01", 2);
	assert_int_equal(escape_filter_apply(&f, buf, 2, &quit), 1);
	memcpy(buf, "xyz", 3);
	assert_int_equal(escape_filter_apply(&f, buf, 3, &quit), 0);
	assert_true(quit);
}

/* A pty pair: *@master and the slave, which is returned; -1 on failure. */
static int open_pty(int *master)
{
	char name[64];
	int s;

	*master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(*master >= 0);
	assert_int_equal(grantpt(*master) | unlockpt(*master) |
			 ptsname_r(*master, name, sizeof(name)), 0);
	s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(s >= 0);
	return s;
}

static bool is_raw(int fd)
{
	struct termios t;

	assert_int_equal(tcgetattr(fd, &t), 0);
	return !(t.c_lflag & (ICANON | ECHO | ISIG)) && !(t.c_oflag & OPOST);
}

static void raw_mode_on_pty(void **state)
{
	struct termios before, after;
	int m, s = open_pty(&m);

	(void)state;
	assert_int_equal(tcgetattr(s, &before), 0);
	assert_false(is_raw(s));
	assert_true(terminal_make_raw(s));
	assert_true(is_raw(s));
	/* Again on the same terminal: still raw, the original still saved. */
	assert_true(terminal_make_raw(s));
	assert_true(is_raw(s));
	terminal_restore();
	assert_false(is_raw(s));
	assert_int_equal(tcgetattr(s, &after), 0);
	assert_int_equal(after.c_lflag, before.c_lflag);
	assert_int_equal(after.c_iflag, before.c_iflag);
	assert_int_equal(after.c_oflag, before.c_oflag);
	assert_int_equal(after.c_cflag, before.c_cflag);
	/* Let go: a second restore (at exit, say) leaves the terminal alone. */
	cfmakeraw(&after);
	assert_int_equal(tcsetattr(s, TCSANOW, &after), 0);
	terminal_restore();
	assert_true(is_raw(s));
	close(s);
	close(m);
}

static void one_terminal_at_a_time(void **state)
{
	int m1, s1 = open_pty(&m1), m2, s2 = open_pty(&m2);

	(void)state;
	assert_true(terminal_make_raw(s1));
	assert_false(terminal_make_raw(s2));
	assert_false(is_raw(s2));
	terminal_restore();
	assert_false(is_raw(s1));
	/* Free again once the first is restored. */
	assert_true(terminal_make_raw(s2));
	terminal_restore();
	assert_false(is_raw(s2));
	close(s1);
	close(m1);
	close(s2);
	close(m2);
}

static void not_a_terminal(void **state)
{
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_false(terminal_make_raw(p[0]));
	assert_false(terminal_make_raw(-1));
	terminal_restore();		/* nothing held: nothing done */
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_bytes_pass),
		cmocka_unit_test(ctrl_a_x_quits),
		cmocka_unit_test(ctrl_a_twice_is_one),
		cmocka_unit_test(ctrl_a_other_drops_both),
		cmocka_unit_test(escape_split_across_reads),
		cmocka_unit_test(raw_mode_on_pty),
		cmocka_unit_test(one_terminal_at_a_time),
		cmocka_unit_test(not_a_terminal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
