/*
 * The I/O thread: one io_uring per VM that waits on queue notifications,
 * backend completions and timers, and runs completion callbacks. The ring is
 * set up before the guest starts, its io-wq workers are bounded, and it is
 * restricted to the files registered before start and the opcodes spry uses.
 */
#ifndef SPRY_IO_LOOP_H
#define SPRY_IO_LOOP_H

#include <liburing.h>
#include <stdbool.h>

struct io_loop;
struct io_op;

/* Called on the I/O thread with the CQE's result (bytes, or -errno). */
typedef void (*io_done_fn)(struct io_op *op, int res);

/* Embed in whatever a request is; its address is the SQE's user_data. */
struct io_op {
	io_done_fn done;
};

struct io_loop *io_loop_create(void);

/*
 * Register @fd before io_loop_start(); returns its fixed-file index (every
 * SQE uses IOSQE_FIXED_FILE) or -errno. The loop does not own @fd.
 */
int io_loop_add_file(struct io_loop *l, int fd);

/* Reserve an empty fixed-file slot for an fd known only later (an accepted socket). */
int io_loop_reserve_file(struct io_loop *l);

/* I/O thread only: put @fd (or -1: empty) in reserved slot @index. 0 or -errno. */
int io_loop_set_file(struct io_loop *l, int index, int fd);

/* Register the files, restrict the ring, start the thread. 0 or -errno. */
int io_loop_start(struct io_loop *l);

/*
 * Stop the thread and free everything. Pending operations are cancelled
 * (their callbacks see -ECANCELED); those that cannot be, such as file I/O
 * already running, are waited for.
 */
void io_loop_destroy(struct io_loop *l);

/*
 * I/O thread only: an SQE whose completion goes to @op->done (NULL: none).
 * Prep it with io_uring_prep_*() on a fixed-file index; the loop adds
 * IOSQE_FIXED_FILE and submits it. Never NULL: a full ring is flushed first.
 */
struct io_uring_sqe *io_loop_get_sqe(struct io_loop *l, struct io_op *op);

/*
 * I/O thread only: call @op->done each time fixed file @index becomes
 * readable (multishot poll). The callback must read the fd.
 */
void io_loop_watch(struct io_loop *l, int index, struct io_op *op);

/*
 * Any thread: run @fn(@arg) on the I/O thread and wait until it returns.
 * Not after io_loop_destroy() has begun: nothing would run it.
 */
void io_loop_call(struct io_loop *l, void (*fn)(void *arg), void *arg);

/* True on the loop's own thread. */
bool io_loop_on_thread(struct io_loop *l);

#endif
