/*
 * The io_uring loop on real pipes and eventfds: calls run on the loop thread,
 * watches fire on every wake-up, one-shot reads complete, the restrictions
 * refuse other opcodes, and destroy cancels what is pending.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "spry/io_loop.h"

struct result {
	struct io_op op;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int count;
	int res;
	int fd;			/* eventfd to drain, for watches */
	bool on_thread;
	struct io_loop *loop;
	char buf[16];
};

static void result_init(struct result *r, struct io_loop *l, io_done_fn done)
{
	memset(r, 0, sizeof(*r));
	r->op.done = done;
	r->loop = l;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
}

static void record(struct io_op *op, int res)
{
	struct result *r = (struct result *)op;
	uint64_t v;

	if (r->fd > 0 && read(r->fd, &v, sizeof(v)) < 0)
		return;
	pthread_mutex_lock(&r->lock);
	r->count++;
	r->res = res;
	r->on_thread = io_loop_on_thread(r->loop);
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static void wait_count(struct result *r, int n)
{
	pthread_mutex_lock(&r->lock);
	while (r->count < n)
		pthread_cond_wait(&r->cond, &r->lock);
	pthread_mutex_unlock(&r->lock);
}

struct submit_args {
	struct io_loop *l;
	struct result *r;
	int index;
	int opcode;
};

static void submit_read(void *arg)
{
	struct submit_args *a = arg;
	struct io_uring_sqe *sqe = io_loop_get_sqe(a->l, &a->r->op);

	io_uring_prep_read(sqe, a->index, a->r->buf, sizeof(a->r->buf), 0);
}

static void submit_watch(void *arg)
{
	struct submit_args *a = arg;

	io_loop_watch(a->l, a->index, &a->r->op);
}

static void call_sets_flag(void *arg)
{
	struct result *r = arg;

	r->on_thread = io_loop_on_thread(r->loop);
	r->count++;
}

static void calls_run_on_the_loop_thread(void **state)
{
	struct io_loop *l = io_loop_create();
	struct result r;

	assert_non_null(l);
	result_init(&r, l, record);
	assert_int_equal(io_loop_start(l), 0);
	io_loop_call(l, call_sets_flag, &r);
	/* The call returned only after it ran, and it ran on the loop. */
	assert_int_equal(r.count, 1);
	assert_true(r.on_thread);
	assert_false(io_loop_on_thread(l));
	io_loop_destroy(l);
}

static void watch_fires_on_every_wakeup(void **state)
{
	struct io_loop *l = io_loop_create();
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct result r;
	struct submit_args a = { .l = l, .r = &r };
	uint64_t one = 1;

	result_init(&r, l, record);
	r.fd = efd;
	a.index = io_loop_add_file(l, efd);
	assert_true(a.index >= 0);
	assert_int_equal(io_loop_start(l), 0);
	io_loop_call(l, submit_watch, &a);
	for (int i = 1; i <= 5; i++) {
		assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
		wait_count(&r, i);
	}
	assert_true(r.on_thread);
	io_loop_destroy(l);
	close(efd);
}

/* A pipe whose read end is registered with @a->l, the loop started, a read submitted on it. */
static void start_pipe_read(struct submit_args *a, int p[2])
{
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	result_init(a->r, a->l, record);
	a->index = io_loop_add_file(a->l, p[0]);
	assert_int_equal(io_loop_start(a->l), 0);
	io_loop_call(a->l, submit_read, a);
}

static void one_shot_read_completes(void **state)
{
	struct io_loop *l = io_loop_create();
	int p[2];
	struct result r;
	struct submit_args a = { .l = l, .r = &r };

	start_pipe_read(&a, p);
	assert_int_equal(write(p[1], "spry", 4), 4);
	wait_count(&r, 1);
	assert_int_equal(r.res, 4);
	assert_memory_equal(r.buf, "spry", 4);
	io_loop_destroy(l);
	close(p[0]);
	close(p[1]);
}

static void submit_openat(void *arg)
{
	struct submit_args *a = arg;
	struct io_uring_sqe *sqe = io_loop_get_sqe(a->l, &a->r->op);

	io_uring_prep_openat(sqe, AT_FDCWD, "/etc/hostname", O_RDONLY, 0);
}

static void restrictions_refuse_other_opcodes(void **state)
{
	struct io_loop *l = io_loop_create();
	struct result r;
	struct submit_args a = { .l = l, .r = &r };

	result_init(&r, l, record);
	assert_int_equal(io_loop_start(l), 0);
	io_loop_call(l, submit_openat, &a);
	wait_count(&r, 1);
	assert_int_equal(r.res, -EACCES);
	io_loop_destroy(l);
}

static void files_only_before_start(void **state)
{
	struct io_loop *l = io_loop_create();

	assert_int_equal(io_loop_start(l), 0);
	assert_int_equal(io_loop_add_file(l, 0), -EBUSY);
	io_loop_destroy(l);
}

static void destroy_cancels_pending_reads(void **state)
{
	struct io_loop *l = io_loop_create();
	int p[2];
	struct result r;
	struct submit_args a = { .l = l, .r = &r };

	start_pipe_read(&a, p);
	/* Nothing is ever written: destroy must not wait for it forever. */
	io_loop_destroy(l);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.res, -ECANCELED);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(calls_run_on_the_loop_thread),
		cmocka_unit_test(watch_fires_on_every_wakeup),
		cmocka_unit_test(one_shot_read_completes),
		cmocka_unit_test(restrictions_refuse_other_opcodes),
		cmocka_unit_test(files_only_before_start),
		cmocka_unit_test(destroy_cancels_pending_reads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
