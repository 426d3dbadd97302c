/*
 * virtio-console driven through its virtio-mmio registers as a driver would,
 * with rings in real guest memory and the I/O loop on its own thread, on a
 * Unix socket backend (a client connected here) and on a pty (its slave
 * opened here): input only as fast as the guest posts buffers, output
 * completed only once written, clients coming and going, bad chains.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/eventfd.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "spry/virtio_devices.h"
#include "virtio_test_util.h"

#define QSIZE		32
#define RXQ		0
#define TXQ		1
#define QUEUE_GPA(q)	(0x10000ULL + (q) * 0x4000ULL)	/* desc, then avail +0x1000, used +0x2000 */
#define DATA_GPA(q, s)	(0x100000ULL + (q) * 0x200000ULL + (s) * BUF_STRIDE)
#define BUF_STRIDE	0x10000ULL	/* 64 KiB per slot */

struct fixture {
	struct vm vm;
	struct virtio_dev *dev;
	char dir[64], path[128];
	uint16_t avail[2];
	uint16_t seen[2];	/* used entries the test has looked at */
	char pty[64];
};

static uint32_t rd(struct fixture *f, uint64_t off) { return vt_rd(&f->vm, off); }
static void wr(struct fixture *f, uint64_t off, uint32_t v) { vt_wr(&f->vm, off, v); }
static void *gpa(struct fixture *f, uint64_t a, uint64_t n) { return vt_gpa(&f->vm, a, n); }

static struct fixture *socket_fixture(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct console_config cfg = { .kind = CONSOLE_SOCKET };

	strcpy(f->dir, "/tmp/spry-vcon-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/console.sock", f->dir);
	cfg.socket_path = f->path;
	vt_vm_init(&f->vm, 16 << 20);
	f->dev = virtio_console_create(&f->vm, f->vm.io, 0, &cfg);
	assert_non_null(f->dev);
	return f;
}

static int setup_socket(void **state)
{
	struct fixture *f = socket_fixture();

	assert_int_equal(io_loop_start(f->vm.io), 0);
	*state = f;
	return 0;
}

/* Devices are created before the loop starts: this one leaves it stopped. */
static int setup_socket_unstarted(void **state)
{
	*state = socket_fixture();
	return 0;
}

/* The pty's name is only printed: catch it from stderr. */
static int setup_pty(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct console_config cfg = { .kind = CONSOLE_PTY };
	int p[2], saved;
	char msg[256] = { 0 }, *at;

	vt_vm_init(&f->vm, 16 << 20);
	assert_int_equal(pipe(p), 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	f->dev = virtio_console_create(&f->vm, f->vm.io, 0, &cfg);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(p[1]);
	assert_true(read(p[0], msg, sizeof(msg) - 1) > 0);
	close(p[0]);
	assert_non_null(f->dev);
	at = strstr(msg, "spry: virtio-console: pty /dev/pts/");
	assert_non_null(at);
	at += strlen("spry: virtio-console: pty ");
	at[strcspn(at, "\r\n")] = 0;
	snprintf(f->pty, sizeof(f->pty), "%s", at);
	assert_int_equal(io_loop_start(f->vm.io), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	wr(f, 0x070, 0);	/* reset: the device lets go of what it waits on */
	vt_vm_destroy(&f->vm);
	if (f->dir[0]) {
		/* The device removed its socket. */
		assert_int_equal(access(f->path, F_OK), -1);
		rmdir(f->dir);
	}
	free(f);
	return 0;
}

/* ---- a small driver ---- */

static void setup_queue(struct fixture *f, unsigned int q)
{
	vt_setup_queue(&f->vm, q, QSIZE, QUEUE_GPA(q), QUEUE_GPA(q) + 0x1000,
		       QUEUE_GPA(q) + 0x2000);
	assert_int_equal(rd(f, VT_QUEUE_NUM_MAX), 256);
	assert_int_equal(rd(f, VT_QUEUE_READY), 1);
}

/* Reset, VERSION_1 (and EVENT_IDX if asked), rx and tx queues, DRIVER_OK. */
static void driver_ok(struct fixture *f, bool event_idx)
{
	uint64_t features = 1ULL << VIRTIO_F_VERSION_1;

	vt_reset_and_ack(&f->vm);
	memset(gpa(f, QUEUE_GPA(0), 0x8000), 0, 0x8000);
	memset(f->avail, 0, sizeof(f->avail));
	memset(f->seen, 0, sizeof(f->seen));
	assert_int_equal(rd(f, VT_DEVICE_ID), VIRTIO_ID_CONSOLE);
	/* no SIZE, MULTIPORT, EMERG_WRITE */
	assert_int_equal(vt_device_features(&f->vm) & 0xffffff, 0);
	if (event_idx)
		features |= 1ULL << VIRTIO_F_EVENT_IDX;
	vt_write_features(&f->vm, features);
	assert_true(rd(f, 0x070) & VIRTIO_STATUS_FEATURES_OK);
	setup_queue(f, RXQ);
	setup_queue(f, TXQ);
	vt_driver_ok(&f->vm);
}

/* Post a one-descriptor buffer on queue @q (data @data if readable) and notify. */
static uint16_t post(struct fixture *f, unsigned int q, const void *data, uint32_t len,
		     uint16_t flags)
{
	struct virtq_desc *desc = gpa(f, QUEUE_GPA(q), QSIZE * sizeof(*desc));
	uint16_t slot = f->avail[q] % QSIZE;
	uint8_t *buf = gpa(f, DATA_GPA(q, slot), len);

	if (!data)
		memset(buf, 0xee, len);
	else if (data != buf)
		memcpy(buf, data, len);
	desc[slot] = (struct virtq_desc){ DATA_GPA(q, slot), len, flags, 0 };
	vt_avail_put(&f->vm, QUEUE_GPA(q) + 0x1000, QSIZE, f->avail[q]++, slot);
	wr(f, 0x050, q);
	return slot;
}

static uint16_t used_idx(struct fixture *f, unsigned int q)
{
	return vt_used_idx(&f->vm, QUEUE_GPA(q) + 0x2000);
}

static bool wait_used(struct fixture *f, unsigned int q, uint16_t n, long timeout_ms)
{
	/* Until the device has used at least @n (used_idx wraps). */
	if (!vt_eventually((uint16_t)(used_idx(f, q) - n) <= 0x8000, timeout_ms))
		return false;
	return used_idx(f, q) == n;
}

/* Collect what the guest received in used rx buffers not yet looked at. */
static size_t take_rx(struct fixture *f, uint8_t *out, size_t room)
{
	struct virtq_used_elem *used = gpa(f, QUEUE_GPA(RXQ) + 0x2004, 8 * QSIZE);
	uint16_t u = used_idx(f, RXQ);
	size_t n = 0;

	for (; f->seen[RXQ] != u; f->seen[RXQ]++) {
		struct virtq_used_elem e = used[f->seen[RXQ] % QSIZE];

		assert_true(e.id < QSIZE);
		assert_true(n + e.len <= room);
		memcpy(out + n, gpa(f, DATA_GPA(RXQ, e.id), e.len ? e.len : 1), e.len);
		n += e.len;
	}
	return n;
}

static size_t rx_until(struct fixture *f, uint8_t *out, size_t want, long timeout_ms)
{
	uint64_t end = vt_now_ms() + (uint64_t)timeout_ms;
	size_t n = 0;

	while (n < want && vt_now_ms() < end) {
		n += take_rx(f, out + n, want - n);
		if (n < want)
			vt_sleep_ms(1);
	}
	return n;
}

static bool needs_reset(struct fixture *f)
{
	return vt_eventually(vt_needs_reset(&f->vm), 2000);
}

static int connect_client(struct fixture *f)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(addr.sun_path, f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	return fd;
}

static size_t read_exact(int fd, uint8_t *buf, size_t len, long timeout_ms)
{
	uint64_t end = vt_now_ms() + (uint64_t)timeout_ms;
	size_t n = 0;

	while (n < len && vt_now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 10) <= 0)
			continue;
		r = read(fd, buf + n, len - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	return n;
}

/* Input reaches the guest once a client is there and accepted. */
static void send_until_delivered(struct fixture *f, int fd, const char *msg)
{
	uint8_t got[64] = { 0 };
	size_t len = strlen(msg);

	assert_int_equal(write(fd, msg, len), (ssize_t)len);
	assert_int_equal(rx_until(f, got, len, 5000), len);
	assert_memory_equal(got, msg, len);
}

/* ---- socket backend ---- */

static void socket_round_trip(void **state)
{
	struct fixture *f = *state;
	uint8_t got[16] = { 0 };
	struct stat st;
	uint32_t v;
	int c;

	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	/* Config: cols, rows 0; max_nr_ports 1 (not offered, but harmless). */
	bus_read(&f->vm.mmio, VT_BASE + 0x104, &v, 4);
	assert_int_equal(v, 1);
	driver_ok(f, false);
	c = connect_client(f);
	for (int i = 0; i < 4; i++)
		post(f, RXQ, NULL, 16, VIRTQ_DESC_F_WRITE);
	send_until_delivered(f, c, "hello");
	/* Guest output reaches the client, and only then is the chain used. */
	post(f, TXQ, "world!", 6, 0);
	assert_int_equal(read_exact(c, got, 6, 5000), 6);
	assert_memory_equal(got, "world!", 6);
	assert_true(wait_used(f, TXQ, 1, 5000));
	assert_true(rd(f, 0x060) & VIRTIO_ISR_QUEUE);
	close(c);
}

static void slow_guest_loses_no_input(void **state)
{
	struct fixture *f = *state;
	uint8_t msg[1000], got[1000];
	int c;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	driver_ok(f, true);
	c = connect_client(f);
	post(f, RXQ, NULL, 4, VIRTQ_DESC_F_WRITE);
	assert_int_equal(write(c, msg, sizeof(msg)), (ssize_t)sizeof(msg));
	assert_true(wait_used(f, RXQ, 1, 5000));
	vt_sleep_ms(50);
	/* One 4-byte buffer: 4 bytes taken, the rest waits in the socket. */
	assert_int_equal(used_idx(f, RXQ), 1);
	assert_int_equal(take_rx(f, got, sizeof(got)), 4);
	/* The guest catches up in small buffers; nothing lost, nothing reordered. */
	size_t n = 4;

	for (int round = 0; n < sizeof(msg) && round < 200; round++) {
		for (int i = 0; i < 8; i++)
			post(f, RXQ, NULL, 37, VIRTQ_DESC_F_WRITE);
		n += rx_until(f, got + n, n + 8 * 37 < sizeof(msg) ? 8 * 37 : sizeof(msg) - n,
			      5000);
	}
	assert_int_equal(n, sizeof(msg));
	assert_memory_equal(got, msg, sizeof(msg));
	close(c);
}

/* A client that stops reading stalls the transmitq only: register writes return at once. */
static void stalled_reader_stalls_only_tx(void **state)
{
	struct fixture *f = *state;
	enum { CHAINS = 16, LEN = 64 * 1024 };
	uint8_t *got = malloc(CHAINS * LEN);
	uint64_t t0;
	int c;

	driver_ok(f, false);
	c = connect_client(f);
	post(f, RXQ, NULL, 16, VIRTQ_DESC_F_WRITE);
	send_until_delivered(f, c, "x");
	t0 = vt_now_ms();
	for (int i = 0; i < CHAINS; i++) {
		uint8_t *buf = gpa(f, DATA_GPA(TXQ, i), LEN);

		memset(buf, 'a' + i, LEN);
		post(f, TXQ, buf, LEN, 0);
	}
	assert_true(vt_now_ms() - t0 < 2000);
	vt_sleep_ms(100);
	assert_true(used_idx(f, TXQ) < CHAINS);
	/* Input still flows while output is stuck. */
	post(f, RXQ, NULL, 16, VIRTQ_DESC_F_WRITE);
	send_until_delivered(f, c, "y");
	/* The reader comes back: everything arrives, in order. */
	assert_int_equal(read_exact(c, got, CHAINS * LEN, 10000), CHAINS * LEN);
	for (int i = 0; i < CHAINS; i++)
		assert_true(got[i * LEN] == 'a' + i && got[i * LEN + LEN - 1] == 'a' + i);
	assert_true(wait_used(f, TXQ, CHAINS, 5000));
	free(got);
	close(c);
}

static void clients_come_and_go(void **state)
{
	struct fixture *f = *state;
	uint8_t got[16];
	int c, second;

	driver_ok(f, false);
	/* Nobody connected: output is dropped, the guest is not held up. */
	post(f, TXQ, "lost", 4, 0);
	assert_true(wait_used(f, TXQ, 1, 5000));
	c = connect_client(f);
	for (int i = 0; i < 8; i++)
		post(f, RXQ, NULL, 16, VIRTQ_DESC_F_WRITE);
	send_until_delivered(f, c, "one");
	/* A second client is turned away while the first one is there. */
	second = connect_client(f);
	assert_int_equal(read_exact(second, got, 1, 2000), 0);
	close(second);
	send_until_delivered(f, c, "still");
	/* The client leaves; output is dropped again; a new client is taken. */
	close(c);
	vt_sleep_ms(50);
	post(f, TXQ, "gone", 4, 0);
	assert_true(wait_used(f, TXQ, 2, 5000));
	c = connect_client(f);
	send_until_delivered(f, c, "two");
	post(f, TXQ, "back", 4, 0);
	assert_int_equal(read_exact(c, got, 4, 5000), 4);
	assert_memory_equal(got, "back", 4);
	assert_true(wait_used(f, TXQ, 3, 5000));
	close(c);
}

static void reset_keeps_pending_input_out_of_guest_memory(void **state)
{
	struct fixture *f = *state;
	uint8_t got[16], old[16];
	int c;

	driver_ok(f, false);
	c = connect_client(f);
	post(f, RXQ, NULL, 16, VIRTQ_DESC_F_WRITE);
	send_until_delivered(f, c, "a");
	post(f, RXQ, NULL, 16, VIRTQ_DESC_F_WRITE);	/* slot 1: a read waits on it */
	vt_sleep_ms(20);
	wr(f, 0x070, 0);
	memcpy(old, gpa(f, DATA_GPA(RXQ, 1), 16), 16);
	assert_int_equal(write(c, "late", 4), 4);
	vt_sleep_ms(50);
	assert_memory_equal(gpa(f, DATA_GPA(RXQ, 1), 16), old, 16);
	assert_int_equal(used_idx(f, RXQ), 1);
	/* The next driver gets the input, and the same client stays connected. */
	driver_ok(f, false);
	post(f, RXQ, NULL, 16, VIRTQ_DESC_F_WRITE);
	assert_int_equal(rx_until(f, got, 4, 5000), 4);
	assert_memory_equal(got, "late", 4);
	post(f, TXQ, "ok", 2, 0);
	assert_int_equal(read_exact(c, got, 2, 5000), 2);
	close(c);
}

static void writable_buffer_in_txq_needs_reset(void **state)
{
	struct fixture *f = *state;

	driver_ok(f, false);
	post(f, TXQ, NULL, 8, VIRTQ_DESC_F_WRITE);
	assert_true(needs_reset(f));
	assert_true(rd(f, 0x060) & VIRTIO_ISR_CONFIG);
	assert_int_equal(used_idx(f, TXQ), 0);
	driver_ok(f, false);
	assert_false(rd(f, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
	post(f, TXQ, "x", 1, 0);
	assert_true(wait_used(f, TXQ, 1, 5000));
}

static void readable_buffer_in_rxq_needs_reset(void **state)
{
	struct fixture *f = *state;
	int c;

	driver_ok(f, false);
	c = connect_client(f);
	post(f, RXQ, "ro", 2, 0);
	assert_true(needs_reset(f));
	assert_int_equal(used_idx(f, RXQ), 0);
	close(c);
}

static void stale_socket_is_replaced_other_files_are_not(void **state)
{
	struct fixture *f = *state;
	struct console_config cfg = { .kind = CONSOLE_SOCKET };
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char path[160];
	int fd;

	/* A socket file nobody listens on any more. */
	snprintf(path, sizeof(path), "%s/stale.sock", f->dir);
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
	cfg.socket_path = path;
	assert_non_null(virtio_console_create(&f->vm, f->vm.io, 1, &cfg));
	assert_int_equal(access(path, F_OK), 0);
	/* A regular file is left alone. */
	snprintf(path, sizeof(path), "%s/file", f->dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_null(virtio_console_create(&f->vm, f->vm.io, 2, &cfg));
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
}

/* ---- pty backend ---- */

static void pty_round_trip(void **state)
{
	struct fixture *f = *state;
	struct termios t;
	uint8_t got[16];
	int s;

	s = open(f->pty, O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(s >= 0);
	assert_int_equal(tcgetattr(s, &t), 0);
	assert_false(t.c_lflag & (ICANON | ECHO));	/* raw */
	driver_ok(f, true);
	for (int i = 0; i < 4; i++)
		post(f, RXQ, NULL, 16, VIRTQ_DESC_F_WRITE);
	assert_int_equal(write(s, "key\n", 4), 4);
	assert_int_equal(rx_until(f, got, 4, 5000), 4);
	assert_memory_equal(got, "key\n", 4);
	post(f, TXQ, "out\n", 4, 0);
	assert_int_equal(read_exact(s, got, 4, 5000), 4);
	assert_memory_equal(got, "out\n", 4);
	assert_true(wait_used(f, TXQ, 1, 5000));
	close(s);
}

/* ---- stdio backend ---- */

/*
 * spry's own stdin (a terminal: a pty here) and stdout (a pipe), swapped in
 * for the test; the terminal is raw while the device lives and Ctrl-A x stops
 * the VM. cmocka's messages go to the pipe until the swap is undone.
 */
static void stdio_round_trip(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct console_config cfg = { .kind = CONSOLE_STDIO };
	int m, s, out[2], save_in = dup(STDIN_FILENO), save_out = dup(STDOUT_FILENO);
	char name[64];
	uint8_t got[16];
	struct termios t;

	(void)state;
	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(m >= 0);
	assert_int_equal(grantpt(m) | unlockpt(m) | ptsname_r(m, name, sizeof(name)), 0);
	s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(s >= 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	vt_vm_init(&f->vm, 16 << 20);
	f->vm.stop_efd = eventfd(0, EFD_CLOEXEC);
	pthread_mutex_init(&f->vm.stop_lock, NULL);
	fflush(stdout);
	dup2(s, STDIN_FILENO);
	dup2(out[1], STDOUT_FILENO);
	f->dev = virtio_console_create(&f->vm, f->vm.io, 0, &cfg);
	assert_non_null(f->dev);
	assert_int_equal(tcgetattr(STDIN_FILENO, &t), 0);
	assert_false(t.c_lflag & (ICANON | ECHO));
	assert_int_equal(io_loop_start(f->vm.io), 0);
	driver_ok(f, true);
	for (int i = 0; i < 4; i++)
		post(f, RXQ, NULL, 16, VIRTQ_DESC_F_WRITE);
	/* Ctrl-A Ctrl-A is one Ctrl-A for the guest. */
	assert_int_equal(write(m, "ab\x01\x01z", 5), 5);
	assert_int_equal(rx_until(f, got, 4, 5000), 4);
	assert_memory_equal(got, "ab\x01z", 4);
	post(f, TXQ, "out", 3, 0);
	assert_int_equal(read_exact(out[0], got, 3, 5000), 3);
	assert_memory_equal(got, "out", 3);
	assert_true(wait_used(f, TXQ, 1, 5000));
	assert_int_equal(write(m, "\x01x", 2), 2);
	for (int i = 0; i < 5000 && !vm_stopping(&f->vm); i++)
		vt_sleep_ms(1);
	assert_true(vm_stopping(&f->vm));
	/* Stopped with the driver still running, as spry stops. */
	io_loop_destroy(f->vm.io);
	bus_destroy(&f->vm.mmio);
	assert_int_equal(tcgetattr(STDIN_FILENO, &t), 0);
	assert_true(t.c_lflag & ICANON);	/* the terminal is back as it was */
	dup2(save_in, STDIN_FILENO);
	dup2(save_out, STDOUT_FILENO);
	close(save_in);
	close(save_out);
	close(out[0]);
	close(out[1]);
	close(s);
	close(m);
	close(f->vm.stop_efd);
	guest_memory_destroy(&f->vm.mem);
	free(f);
}

#define TS(fn) cmocka_unit_test_setup_teardown(fn, setup_socket, teardown)
#define TP(fn) cmocka_unit_test_setup_teardown(fn, setup_pty, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TS(socket_round_trip),
		TS(slow_guest_loses_no_input),
		TS(stalled_reader_stalls_only_tx),
		TS(clients_come_and_go),
		TS(reset_keeps_pending_input_out_of_guest_memory),
		TS(writable_buffer_in_txq_needs_reset),
		TS(readable_buffer_in_rxq_needs_reset),
		cmocka_unit_test_setup_teardown(stale_socket_is_replaced_other_files_are_not,
						setup_socket_unstarted, teardown),
		TP(pty_round_trip),
		cmocka_unit_test(stdio_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
