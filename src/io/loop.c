/*
 * The I/O thread's io_uring loop. The ring is created disabled, gets its
 * files, a bound on io-wq workers and its restrictions (fixed files only,
 * spry's opcodes only), and only then is enabled, before the guest runs.
 * Other threads reach the loop only through io_loop_call().
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "spry/io_loop.h"
#include "spry/log.h"
#include "spry/util.h"

#define LOOP_ENTRIES	512
#define LOOP_MAX_FILES	128	/* 8 devices x (4 notify eventfds + backends), with room */
#define LOOP_MAX_WATCHES 64	/* the wake eventfd and up to 8 x 4 queue notifications */
#define IOWQ_MAX_WORKERS 4	/* per kind (bounded, unbounded): a small VM needs no more */
#define WATCH_TAG	1ULL	/* low bit of user_data: a multishot watch, not a one-shot op */

struct watch {
	struct io_op *op;
	int index;
};

struct loop_call {
	void (*fn)(void *arg);
	void *arg;
	bool done;
	struct loop_call *next;
};

struct io_loop {
	struct io_uring ring;
	bool ring_ready;
	int files[LOOP_MAX_FILES];
	int nfiles;
	struct watch watches[LOOP_MAX_WATCHES];
	int nwatches;
	unsigned int inflight;		/* one-shot ops submitted and not completed */

	int wake_fd, wake_index;
	struct io_op wake_op;
	pthread_mutex_t lock;		/* calls and done flags */
	pthread_cond_t call_done;
	struct loop_call *calls;
	bool stopping;
	struct io_op cancel_op;		/* the cancel-everything request of a stop */
	bool cancel_pending;
	bool queued_since_cancel;	/* a callback queued new work while stopping */
	pthread_t thread;
	bool started;
};

static const uint8_t allowed_ops[] = {
	IORING_OP_NOP, IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_READ, IORING_OP_WRITE,
	IORING_OP_FSYNC, IORING_OP_FALLOCATE, IORING_OP_POLL_ADD, IORING_OP_POLL_REMOVE,
	IORING_OP_TIMEOUT, IORING_OP_ASYNC_CANCEL, IORING_OP_ACCEPT,
};

int io_loop_add_file(struct io_loop *l, int fd)
{
	if (l->ring_ready)
		return -EBUSY;
	if (l->nfiles == LOOP_MAX_FILES)
		return -ENOSPC;
	l->files[l->nfiles] = fd;
	return l->nfiles++;
}

int io_loop_reserve_file(struct io_loop *l)
{
	return io_loop_add_file(l, -1);
}

int io_loop_set_file(struct io_loop *l, int index, int fd)
{
	int ret;

	if (index < 0 || index >= l->nfiles)
		return -EINVAL;
	ret = io_uring_register_files_update(&l->ring, (unsigned int)index, &fd, 1);
	if (ret < 0)
		return ret;
	l->files[index] = fd;
	return 0;
}

/*
 * Callers prep their SQEs with io_uring_prep_*(), which clears sqe->flags, so
 * the fixed-file flag the ring's restrictions require is added here, to every
 * SQE not yet handed to the kernel, just before submitting.
 */
static void mark_fixed_files(struct io_uring *ring)
{
	for (unsigned int i = ring->sq.sqe_head; i != ring->sq.sqe_tail; i++)
		ring->sq.sqes[i & ring->sq.ring_mask].flags |= IOSQE_FIXED_FILE;
}

static int submit(struct io_loop *l, unsigned int wait)
{
	mark_fixed_files(&l->ring);
	return io_uring_submit_and_wait(&l->ring, wait);
}

struct io_uring_sqe *io_loop_get_sqe(struct io_loop *l, struct io_op *op)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&l->ring)))
		submit(l, 0);
	io_uring_sqe_set_data(sqe, op);	/* NULL: nobody wants the completion */
	l->inflight++;
	if (l->stopping)
		l->queued_since_cancel = true;
	return sqe;
}

static void arm_watch(struct io_loop *l, struct watch *w)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&l->ring)))
		submit(l, 0);
	io_uring_prep_poll_multishot(sqe, w->index, POLLIN);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)w | WATCH_TAG);
}

void io_loop_watch(struct io_loop *l, int index, struct io_op *op)
{
	struct watch *w;

	if (l->nwatches == LOOP_MAX_WATCHES) {
		spry_err("io loop: more than %d watched files", LOOP_MAX_WATCHES);
		abort();
	}
	w = &l->watches[l->nwatches++];
	w->op = op;
	w->index = index;
	arm_watch(l, w);
}

static void run_calls(struct io_loop *l)
{
	struct loop_call *c;

	pthread_mutex_lock(&l->lock);
	while ((c = l->calls)) {
		l->calls = c->next;
		pthread_mutex_unlock(&l->lock);
		c->fn(c->arg);
		pthread_mutex_lock(&l->lock);
		c->done = true;
	}
	pthread_cond_broadcast(&l->call_done);
	pthread_mutex_unlock(&l->lock);
}

static void wake_done(struct io_op *op, int res)
{
	struct io_loop *l = container_of(op, struct io_loop, wake_op);
	uint64_t v;

	if (read(l->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		spry_err("io loop: wake eventfd: %s", strerror(errno));
	run_calls(l);
}

bool io_loop_on_thread(struct io_loop *l)
{
	return l->started && pthread_equal(pthread_self(), l->thread);
}

void io_loop_call(struct io_loop *l, void (*fn)(void *arg), void *arg)
{
	struct loop_call c = { .fn = fn, .arg = arg };
	uint64_t one = 1;

	if (!l->started || io_loop_on_thread(l)) {
		fn(arg);
		return;
	}
	pthread_mutex_lock(&l->lock);
	c.next = l->calls;
	l->calls = &c;
	pthread_mutex_unlock(&l->lock);
	if (write(l->wake_fd, &one, sizeof(one)) < 0)
		spry_err("io loop: wake eventfd: %s", strerror(errno));
	pthread_mutex_lock(&l->lock);
	while (!c.done)
		pthread_cond_wait(&l->call_done, &l->lock);
	pthread_mutex_unlock(&l->lock);
}

static void cancel_done(struct io_op *op, int res)
{
	struct io_loop *l = container_of(op, struct io_loop, cancel_op);

	l->cancel_pending = false;
}

static void cancel_everything(struct io_loop *l)
{
	struct io_uring_sqe *sqe = io_loop_get_sqe(l, &l->cancel_op);

	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	l->cancel_pending = true;
	l->queued_since_cancel = false;
}

static void handle_cqe(struct io_loop *l, struct io_uring_cqe *cqe)
{
	uint64_t data = io_uring_cqe_get_data64(cqe);

	if (data & WATCH_TAG) {
		struct watch *w = (struct watch *)(uintptr_t)(data & ~WATCH_TAG);

		w->op->done(w->op, cqe->res);
		/*
		 * A multishot poll may end after a successful event (e.g. on CQ
		 * overflow): re-arm it. One that ended in an error would only
		 * fail again at once.
		 */
		if (!(cqe->flags & IORING_CQE_F_MORE) && cqe->res >= 0 && !l->stopping)
			arm_watch(l, w);
		return;
	}
	l->inflight--;
	if (data)
		((struct io_op *)(uintptr_t)data)->done((struct io_op *)(uintptr_t)data, cqe->res);
}

static void *loop_thread(void *arg)
{
	struct io_loop *l = arg;

	while (!l->stopping || l->inflight) {
		struct io_uring_cqe *cqe;
		unsigned int head, n = 0;
		int ret = submit(l, 1);

		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			spry_err("io loop: io_uring_submit_and_wait: %s", strerror(-ret));
			break;
		}
		io_uring_for_each_cqe(&l->ring, head, cqe) {
			handle_cqe(l, cqe);
			n++;
		}
		io_uring_cq_advance(&l->ring, n);
		/* A completion handler that resubmitted during the stop gets cancelled too. */
		if (l->stopping && l->queued_since_cancel && !l->cancel_pending)
			cancel_everything(l);
	}
	return NULL;
}

/* Runs on the loop: cancel what can be cancelled; the loop ends when nothing is in flight. */
static void stop_loop(void *arg)
{
	struct io_loop *l = arg;

	l->stopping = true;
	cancel_everything(l);
}

struct io_loop *io_loop_create(void)
{
	struct io_loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->call_done, NULL);
	l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->wake_fd < 0) {
		free(l);
		return NULL;
	}
	l->wake_index = io_loop_add_file(l, l->wake_fd);
	l->wake_op.done = wake_done;
	l->cancel_op.done = cancel_done;
	return l;
}

/*
 * Debian 12's liburing 2.3 declares io_uring_register_restrictions() and
 * io_uring_enable_rings() but does not export them, so register directly.
 */
static int ring_register(struct io_loop *l, unsigned int opcode, const void *arg,
			 unsigned int nr)
{
	long ret = syscall(__NR_io_uring_register, l->ring.ring_fd, opcode, arg, nr);

	return ret < 0 ? -errno : (int)ret;
}

static int restrict_ring(struct io_loop *l)
{
	struct io_uring_restriction res[2 + sizeof(allowed_ops)] = { 0 };
	unsigned int n = 0, workers[2] = { IOWQ_MAX_WORKERS, IOWQ_MAX_WORKERS };
	int ret;

	ret = io_uring_register_iowq_max_workers(&l->ring, workers);
	if (ret < 0)
		return ret;
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
	res[n++].sqe_flags = IOSQE_FIXED_FILE;
	res[n].opcode = IORING_RESTRICTION_REGISTER_OP;
	res[n++].register_op = IORING_REGISTER_FILES_UPDATE;
	for (size_t i = 0; i < sizeof(allowed_ops); i++) {
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n++].sqe_op = allowed_ops[i];
	}
	return ring_register(l, IORING_REGISTER_RESTRICTIONS, res, n);
}

int io_loop_start(struct io_loop *l)
{
	struct io_uring_params p = { .flags = IORING_SETUP_R_DISABLED };
	sigset_t all, old;
	int ret;

	ret = io_uring_queue_init_params(LOOP_ENTRIES, &l->ring, &p);
	if (ret < 0)
		return ret;
	l->ring_ready = true;
	ret = io_uring_register_files(&l->ring, l->files, (unsigned int)l->nfiles);
	if (ret < 0)
		return ret;
	ret = restrict_ring(l);
	if (ret < 0)
		return ret;
	ret = ring_register(l, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (ret < 0)
		return ret;
	io_loop_watch(l, l->wake_index, &l->wake_op);
	/* Signals belong to the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	/* Set first: the thread reads it (io_loop_on_thread()) as soon as it runs. */
	l->started = true;
	ret = -pthread_create(&l->thread, NULL, loop_thread, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		l->started = false;
		return ret;
	}
	pthread_setname_np(l->thread, "io");
	return 0;
}

void io_loop_destroy(struct io_loop *l)
{
	if (!l)
		return;
	if (l->started) {
		io_loop_call(l, stop_loop, l);
		pthread_join(l->thread, NULL);
	}
	if (l->ring_ready)
		io_uring_queue_exit(&l->ring);
	close(l->wake_fd);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->call_done);
	free(l);
}
