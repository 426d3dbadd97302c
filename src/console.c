/*
 * Guest console on stdio. Output goes through a ring buffer that a writer
 * thread drains with blocking writes, so the vCPU that filled it never waits:
 * when the ring is full, new bytes are dropped and counted. A terminal on
 * stdin is put in raw mode so keys reach the guest; Ctrl-A x quits, as in QEMU.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spry/console.h"
#include "spry/log.h"
#include "spry/terminal.h"

#define FLUSH_TIMEOUT_S	2

struct console {
	int in_fd, out_fd;
	bool in_eof;
	bool raw;			/* in_fd is a terminal we put in raw mode */
	struct escape_filter escape;

	pthread_mutex_t lock;
	pthread_cond_t more;		/* writer: there is output, or we are closing */
	pthread_cond_t moved;		/* destroy: output went out (or the writer quit) */
	uint8_t ring[CONSOLE_OUT_BUFFER];
	size_t head, count;
	size_t writing;			/* bytes the writer took out and is writing now */
	uint64_t dropped;
	bool closing, out_broken;
	pthread_t writer;
};

/* Returns how many bytes could not be written; sets *@broken when the reader is gone. */
static size_t write_all(int fd, const uint8_t *p, size_t n, bool *broken)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			/* A reader that went away loses the rest; the guest never notices. */
			*broken = true;
			break;
		}
		p += w;
		n -= (size_t)w;
	}
	return n;
}

static void *writer_thread(void *arg)
{
	struct console *c = arg;
	uint8_t chunk[4096];
	bool broken = false;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		size_t n;

		while (!c->count && !c->closing)
			pthread_cond_wait(&c->more, &c->lock);
		if (!c->count)
			break;
		n = c->count < sizeof(chunk) ? c->count : sizeof(chunk);
		for (size_t i = 0; i < n; i++)
			chunk[i] = c->ring[(c->head + i) % CONSOLE_OUT_BUFFER];
		c->head = (c->head + n) % CONSOLE_OUT_BUFFER;
		c->count -= n;
		c->writing = n;
		pthread_mutex_unlock(&c->lock);
		n = broken ? n : write_all(c->out_fd, chunk, n, &broken);
		pthread_mutex_lock(&c->lock);
		c->writing = 0;
		c->dropped += n;
		c->out_broken = broken;
		pthread_cond_broadcast(&c->moved);
	}
	pthread_cond_broadcast(&c->moved);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

struct console *console_create(int in_fd, int out_fd)
{
	struct console *c = calloc(1, sizeof(*c));
	sigset_t all, old;
	int err;

	if (!c)
		return NULL;
	c->in_fd = in_fd;
	c->out_fd = out_fd;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->more, NULL);
	pthread_cond_init(&c->moved, NULL);
	/* The writer takes no signals; they belong to the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&c->writer, NULL, writer_thread, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		spry_err("console: cannot start writer thread: %s", strerror(err));
		free(c);
		return NULL;
	}
	pthread_setname_np(c->writer, "console-out");
	c->raw = terminal_make_raw(in_fd);
	return c;
}

void console_write(struct console *c, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < len; i++) {
		if (c->count == CONSOLE_OUT_BUFFER) {
			c->dropped += len - i;
			break;
		}
		c->ring[(c->head + c->count++) % CONSOLE_OUT_BUFFER] = buf[i];
	}
	pthread_cond_signal(&c->more);
	pthread_mutex_unlock(&c->lock);
}

int console_input_fd(struct console *c)
{
	return c->in_eof ? -1 : c->in_fd;
}

long console_read_input(struct console *c, uint8_t *buf, size_t len, bool *quit)
{
	ssize_t n;

	*quit = false;
	if (c->in_eof)
		return -1;
	n = read(c->in_fd, buf, len);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : (c->in_eof = true, -1);
	if (n == 0) {
		c->in_eof = true;
		return -1;
	}
	if (c->raw)
		return (long)escape_filter_apply(&c->escape, buf, (size_t)n, quit);
	return n;
}

/*
 * Wait for the output to go out while the reader keeps taking it: a slow
 * reader gets everything, one that takes nothing for FLUSH_TIMEOUT_S loses
 * the rest.
 */
static void flush_while_moving(struct console *c)
{
	struct timespec deadline;
	size_t left = SIZE_MAX;

	/* Bytes the writer holds count too: its write() may be what is stuck. */
	while ((c->count || c->writing) && !c->out_broken) {
		if (c->count + c->writing < left) {
			left = c->count + c->writing;
			clock_gettime(CLOCK_REALTIME, &deadline);
			deadline.tv_sec += FLUSH_TIMEOUT_S;
		}
		if (pthread_cond_timedwait(&c->moved, &c->lock, &deadline) == ETIMEDOUT)
			break;
	}
}

void console_destroy(struct console *c)
{
	uint64_t dropped;
	bool flushed;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->closing = true;
	pthread_cond_signal(&c->more);
	flush_while_moving(c);
	flushed = !c->count && !c->writing;
	c->dropped += c->count + c->writing;
	dropped = c->dropped;
	pthread_mutex_unlock(&c->lock);
	if (c->raw)
		terminal_restore();
	if (dropped)
		spry_info("serial console: %llu bytes of guest output dropped (output too slow)",
			  (unsigned long long)dropped);
	/* A writer stuck on a stopped reader is left to process exit. */
	if (flushed)
		pthread_join(c->writer, NULL);
	else
		pthread_detach(c->writer);
	if (flushed) {
		pthread_mutex_destroy(&c->lock);
		pthread_cond_destroy(&c->more);
		pthread_cond_destroy(&c->moved);
		free(c);
	}
}
