/*
 * The host side of the guest console on spry's stdin/stdout: the terminal in
 * raw mode (restored on every exit path), guest output through a bounded
 * buffer drained by a writer thread so a vCPU never blocks on a slow reader,
 * and input handed to the UART only as fast as the guest takes it.
 */
#ifndef SPRY_CONSOLE_H
#define SPRY_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_OUT_BUFFER (64 * 1024)

struct console;

/* Set up the console on @in_fd/@out_fd; NULL on failure (message printed). */
struct console *console_create(int in_fd, int out_fd);
/* Flush what the guest wrote (waiting at most a moment), restore the terminal, free. */
void console_destroy(struct console *c);

/* Queue guest output; bytes that do not fit are dropped and counted. Never blocks. */
void console_write(struct console *c, const uint8_t *buf, size_t len);

/* The fd to poll for guest input, or -1 once it reached end of file. */
int console_input_fd(struct console *c);
/*
 * Read input into @buf (at most @len bytes). Returns the bytes for the guest,
 * 0 when nothing is for the guest, -1 at end of input. Sets *@quit when the
 * user typed the escape sequence (Ctrl-A x) on a terminal.
 */
long console_read_input(struct console *c, uint8_t *buf, size_t len, bool *quit);

#endif
