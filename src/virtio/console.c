/*
 * virtio-console (virtio 1.2, 5.3), one port, no MULTIPORT, on stdio, a pty
 * or a Unix socket. All backend I/O is io_uring on the I/O thread: input is
 * read only into room the guest has posted, and a transmit chain is completed
 * only once its bytes were written, so a slow host reader stalls the transmitq
 * alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "spry/exit.h"
#include "spry/log.h"
#include "spry/terminal.h"
#include "spry/util.h"
#include "spry/virtio_devices.h"
#include "spry/vm.h"

#define CON_RXQ		0
#define CON_TXQ		1
#define CON_QUEUE_MAX	256
#define CON_RX_BUF	4096


struct con_config {		/* virtio_console_config without EMERG_WRITE */
	uint16_t cols, rows;
	uint32_t max_nr_ports;
};

struct vcon {
	struct virtio_dev *dev;
	struct io_loop *loop;
	enum console_kind kind;

	/* Backend fds and their fixed-file indexes; -1 when absent. */
	int in_fd, out_fd, in_index, out_index;
	int pty_slave;			/* held open: the master never sees a hang-up */
	int listen_fd, listen_index;
	char *socket_path;
	bool connected;			/* a client (always true for stdio and pty) */
	unsigned int conn;		/* bumped on every new client */
	bool in_eof, out_broken;
	bool raw;			/* stdin: a terminal we put in raw mode */
	struct escape_filter escape;

	/* Guest side, I/O thread only. */
	bool running;			/* between start() and reset() */
	unsigned int gen;		/* bumped on every reset */
	uint64_t dropped;		/* guest output bytes with nowhere to go */

	struct io_op rx_op;
	bool rx_busy, rx_held;
	unsigned int rx_gen, rx_conn;
	size_t rx_pending, rx_off;	/* read bytes still to hand to the guest */
	struct virtq_chain rx_chain;
	uint8_t rx_buf[CON_RX_BUF];

	struct io_op tx_op;
	bool tx_busy, tx_held;
	unsigned int tx_gen, tx_conn;
	unsigned int tx_iov;		/* first iovec not fully written */
	struct virtq_chain tx_chain;

	struct io_op accept_op;
	bool accept_busy, accept_failed;
	unsigned int accept_gen;
	int client_index;		/* reserved slot the accepted client goes into */

	struct io_op cancel_op;		/* shared by cancel requests; their results don't matter */
};

static void rx_kick(struct vcon *c);
static void tx_kick(struct vcon *c);
static void accept_kick(struct vcon *c);

/* ---- helpers ---- */

static bool queue_ok(struct vcon *c, unsigned int q)
{
	return c->running && !atomic_load(&c->dev->broken) && c->dev->vq[q].enabled;
}

static void cancel_op(struct vcon *c, struct io_op *op)
{
	struct io_uring_sqe *sqe = io_loop_get_sqe(c->loop, &c->cancel_op);

	io_uring_prep_cancel(sqe, op, 0);
}

static void cancel_done(struct io_op *op, int res)
{
	(void)op;
	(void)res;
}

/*
 * Take the next chain of queue @q into @chain. 1: got one; 0: none (we asked
 * to be notified); -1: the driver broke a rule (device error raised).
 */
static int pop_chain(struct vcon *c, unsigned int q, struct virtq_chain *chain)
{
	struct virtq *vq = &c->dev->vq[q];
	int ret = virtq_pop(vq, chain);

	if (ret == 0) {
		virtq_set_notify(vq, true);
		if (!virtq_has_work(vq))
			return 0;
		ret = virtq_pop(vq, chain);
	}
	if (ret < 0) {
		virtio_device_error(c->dev, q, NULL);
		return -1;
	}
	if (ret == 0)
		return 0;
	/* 5.3.6.1: no device-readable buffer in a receiveq, no device-writable one in a transmitq. */
	if (q == CON_RXQ && chain->nread) {
		virtio_device_error(c->dev, q, "device-readable buffer in the receiveq");
		return -1;
	}
	if (q == CON_TXQ && chain->nwrite) {
		virtio_device_error(c->dev, q, "device-writable buffer in the transmitq");
		return -1;
	}
	return 1;
}

/* Copy up to @len bytes into the writable part of @chain; returns the bytes copied. */
static size_t chain_fill(struct virtq_chain *chain, const uint8_t *src, size_t len)
{
	size_t done = 0;

	for (unsigned int i = chain->nread; i < chain->nread + chain->nwrite && done < len; i++) {
		size_t n = chain->iov[i].iov_len;

		if (n > len - done)
			n = len - done;
		memcpy(chain->iov[i].iov_base, src + done, n);
		done += n;
	}
	return done;
}

/* ---- socket clients ---- */

/* The fixed files input and output go through: the client's slot for a socket. */
static int rx_index(struct vcon *c)
{
	return c->kind == CONSOLE_SOCKET ? c->client_index : c->in_index;
}

static int tx_index(struct vcon *c)
{
	return c->kind == CONSOLE_SOCKET ? c->client_index : c->out_index;
}

static void client_gone(struct vcon *c)
{
	int err;

	if (!c->connected || c->kind != CONSOLE_SOCKET)
		return;
	c->connected = false;
	err = io_loop_set_file(c->loop, c->client_index, -1);
	if (err)
		spry_err("virtio-console: cannot drop the client's file: %s", strerror(-err));
	close(c->in_fd);
	c->in_fd = c->out_fd = -1;
	/* A write stuck on a client that stopped reading gives up; its bytes are dropped. */
	if (c->tx_busy)
		cancel_op(c, &c->tx_op);
	if (c->rx_busy)
		cancel_op(c, &c->rx_op);
	tx_kick(c);
}

static void client_arrived(struct vcon *c, int fd)
{
	int err;

	if (c->connected) {
		close(fd);	/* one client at a time */
		return;
	}
	err = io_loop_set_file(c->loop, c->client_index, fd);
	if (err) {
		spry_err("virtio-console: cannot take a client: %s", strerror(-err));
		close(fd);
		return;
	}
	c->in_fd = c->out_fd = fd;
	c->connected = true;
	c->conn++;
	c->in_eof = c->out_broken = false;
	rx_kick(c);
}

static void accept_done(struct io_op *op, int res)
{
	struct vcon *c = container_of(op, struct vcon, accept_op);
	bool stale = c->accept_gen != c->gen;

	c->accept_busy = false;
	if (res >= 0)
		client_arrived(c, res);
	else if (res == -ECANCELED && !stale)
		return;		/* the loop is stopping */
	else if (res != -ECANCELED && res != -EINTR && res != -EAGAIN && res != -ECONNABORTED &&
		 res != -EPROTO && res != -EPERM) {
		spry_err("virtio-console: accept on %s: %s; no more clients", c->socket_path,
			 strerror(-res));
		c->accept_failed = true;
		return;
	}
	accept_kick(c);
}

static void accept_kick(struct vcon *c)
{
	struct io_uring_sqe *sqe;

	if (c->kind != CONSOLE_SOCKET || !c->running || c->accept_busy || c->accept_failed)
		return;
	sqe = io_loop_get_sqe(c->loop, &c->accept_op);
	io_uring_prep_accept(sqe, c->listen_index, NULL, NULL, SOCK_CLOEXEC);
	c->accept_busy = true;
	c->accept_gen = c->gen;
}

/* ---- receiveq: backend → guest ---- */

/* Strip the Ctrl-A escape out of terminal input; Ctrl-A x stops the VM. */
static size_t filter_input(struct vcon *c, uint8_t *buf, size_t n)
{
	bool quit = false;

	n = escape_filter_apply(&c->escape, buf, n, &quit);
	if (quit) {
		spry_info("stopped from the console (Ctrl-A x)");
		vm_request_stop(c->dev->vm, SPRY_EXIT_SIGNAL);
		c->in_eof = true;
	}
	return n;
}

static void rx_done(struct io_op *op, int res)
{
	struct vcon *c = container_of(op, struct vcon, rx_op);
	bool stale = c->rx_gen != c->gen;
	bool other_client = c->rx_conn != c->conn || !c->connected;
	size_t n;

	c->rx_busy = false;
	if (res > 0) {
		n = c->raw ? filter_input(c, c->rx_buf, (size_t)res) : (size_t)res;
		if (!n) {
			rx_kick(c);
			return;
		}
		if (c->rx_held && queue_ok(c, CON_RXQ)) {
			/* We read no more than the held chain holds. */
			n = chain_fill(&c->rx_chain, c->rx_buf, n);
			c->rx_held = false;
			virtq_push(&c->dev->vq[CON_RXQ], c->rx_chain.head, (uint32_t)n);
			virtio_notify_used(c->dev, CON_RXQ);
		} else {
			/* A reset came in between: keep the input for the next driver. */
			c->rx_pending = n;
			c->rx_off = 0;
		}
		rx_kick(c);
		return;
	}
	if (res == -ECANCELED && !stale && !other_client)
		return;		/* the loop is stopping */
	if (!other_client && res != -ECANCELED && res != -EINTR && res != -EAGAIN) {
		if (c->kind == CONSOLE_SOCKET) {
			client_gone(c);
		} else {
			if (res < 0)
				spry_err("virtio-console: input: %s", strerror(-res));
			c->in_eof = true;
		}
		return;
	}
	rx_kick(c);
}

static void rx_kick(struct vcon *c)
{
	struct virtq *vq = &c->dev->vq[CON_RXQ];
	struct io_uring_sqe *sqe;
	size_t len;
	int ret;

	if (!queue_ok(c, CON_RXQ))
		return;
	/* First what a reset left behind. */
	while (c->rx_pending) {
		if (!c->rx_held) {
			ret = pop_chain(c, CON_RXQ, &c->rx_chain);
			if (ret <= 0)
				return;
		}
		c->rx_held = false;
		len = chain_fill(&c->rx_chain, c->rx_buf + c->rx_off, c->rx_pending);
		c->rx_off += len;
		c->rx_pending -= len;
		virtq_push(vq, c->rx_chain.head, (uint32_t)len);
		virtio_notify_used(c->dev, CON_RXQ);
	}
	if (c->rx_busy || c->in_eof || !c->connected || rx_index(c) < 0)
		return;
	while (!c->rx_held) {
		ret = pop_chain(c, CON_RXQ, &c->rx_chain);
		if (ret <= 0)
			return;
		if (c->rx_chain.write_len) {
			c->rx_held = true;
			break;
		}
		virtq_push(vq, c->rx_chain.head, 0);
		virtio_notify_used(c->dev, CON_RXQ);
	}
	/* Never read more than the guest can take now: the rest waits in the backend. */
	len = c->rx_chain.write_len < CON_RX_BUF ? (size_t)c->rx_chain.write_len : CON_RX_BUF;
	sqe = io_loop_get_sqe(c->loop, &c->rx_op);
	io_uring_prep_read(sqe, rx_index(c), c->rx_buf, (unsigned int)len, (uint64_t)-1);
	c->rx_busy = true;
	c->rx_gen = c->gen;
	c->rx_conn = c->conn;
}

/* ---- transmitq: guest → backend ---- */

static void tx_complete(struct vcon *c)
{
	c->tx_held = false;
	virtq_push(&c->dev->vq[CON_TXQ], c->tx_chain.head, 0);
	virtio_notify_used(c->dev, CON_TXQ);
}

static void tx_submit(struct vcon *c)
{
	struct io_uring_sqe *sqe = io_loop_get_sqe(c->loop, &c->tx_op);

	io_uring_prep_writev(sqe, tx_index(c), &c->tx_chain.iov[c->tx_iov],
			     c->tx_chain.nread - c->tx_iov, (uint64_t)-1);
	c->tx_busy = true;
	c->tx_gen = c->gen;
	c->tx_conn = c->conn;
}

/* Account @n written bytes; true when the whole chain is out. */
static bool tx_advance(struct vcon *c, size_t n)
{
	struct virtq_chain *ch = &c->tx_chain;

	while (c->tx_iov < ch->nread) {
		struct iovec *iov = &ch->iov[c->tx_iov];

		if (n < iov->iov_len) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= n;
			return false;
		}
		n -= iov->iov_len;
		c->tx_iov++;
	}
	return true;
}

static size_t tx_remaining(struct vcon *c)
{
	size_t n = 0;

	for (unsigned int i = c->tx_iov; i < c->tx_chain.nread; i++)
		n += c->tx_chain.iov[i].iov_len;
	return n;
}

static void tx_done(struct io_op *op, int res)
{
	struct vcon *c = container_of(op, struct vcon, tx_op);
	bool stale = c->tx_gen != c->gen;
	bool other_client = c->tx_conn != c->conn || !c->connected;

	c->tx_busy = false;
	if (!c->tx_held || !queue_ok(c, CON_TXQ)) {
		/* A reset dropped the chain; nothing goes back to guest memory. */
		if (res != -ECANCELED || stale)
			tx_kick(c);
		return;
	}
	if (other_client) {
		/* The client it was for went away: the rest is dropped. */
		c->dropped += tx_remaining(c) - (res > 0 ? (size_t)res : 0);
		tx_complete(c);
		tx_kick(c);
		return;
	}
	if (res > 0) {
		if (!tx_advance(c, (size_t)res)) {
			tx_submit(c);
			return;
		}
		tx_complete(c);
		tx_kick(c);
		return;
	}
	if (res == -ECANCELED && !stale)
		return;		/* the loop is stopping */
	if (res == -EINTR || res == -EAGAIN || res == -ECANCELED) {
		tx_submit(c);
		return;
	}
	/* The reader went away (or the output broke): drop what is left. */
	c->dropped += tx_remaining(c);
	tx_complete(c);
	if (c->kind == CONSOLE_SOCKET) {
		client_gone(c);
		return;
	}
	if (!c->out_broken)
		spry_err("virtio-console: output: %s; dropping guest output",
			 res ? strerror(-res) : "end of file");
	c->out_broken = true;
	tx_kick(c);
}

static void tx_kick(struct vcon *c)
{
	bool pushed = false;
	int ret;

	if (c->tx_busy || !queue_ok(c, CON_TXQ))
		return;
	for (;;) {
		ret = pop_chain(c, CON_TXQ, &c->tx_chain);
		if (ret <= 0)
			break;
		if (c->tx_chain.read_len && c->connected && !c->out_broken && tx_index(c) >= 0) {
			c->tx_held = true;
			c->tx_iov = 0;
			tx_submit(c);
			break;
		}
		/* Nobody to write to: the output is dropped, the guest goes on. */
		c->dropped += c->tx_chain.read_len;
		virtq_push(&c->dev->vq[CON_TXQ], c->tx_chain.head, 0);
		pushed = true;
	}
	if (pushed)
		virtio_notify_used(c->dev, CON_TXQ);
}

/* ---- device ops ---- */

static void con_config_read(struct virtio_dev *d, uint32_t off, void *data, unsigned int len)
{
	struct con_config cfg = { .cols = 0, .rows = 0, .max_nr_ports = 1 };

	(void)d;
	memcpy(data, (uint8_t *)&cfg + off, len);
}

static void con_start(struct virtio_dev *d)
{
	struct vcon *c = d->priv;

	c->running = true;
	accept_kick(c);
	rx_kick(c);
	tx_kick(c);
}

static void con_queue_notify(struct virtio_dev *d, unsigned int q)
{
	struct vcon *c = d->priv;

	if (q == CON_RXQ)
		rx_kick(c);
	else if (q == CON_TXQ)
		tx_kick(c);
}

static void con_reset(struct virtio_dev *d)
{
	struct vcon *c = d->priv;

	/* Held chains are forgotten; what is in flight completes into our buffers only. */
	c->running = false;
	c->gen++;
	c->rx_held = false;
	c->tx_held = false;
	if (c->rx_busy)
		cancel_op(c, &c->rx_op);
	if (c->tx_busy)
		cancel_op(c, &c->tx_op);
	if (c->accept_busy)
		cancel_op(c, &c->accept_op);
}

static void vcon_free(struct vcon *c)
{
	if (c->kind == CONSOLE_SOCKET && c->connected)
		close(c->in_fd);
	if (c->kind == CONSOLE_PTY) {
		if (c->in_fd >= 0)
			close(c->in_fd);
		if (c->pty_slave >= 0)
			close(c->pty_slave);
	}
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		unlink(c->socket_path);
	}
	if (c->raw)
		terminal_restore();
	free(c->socket_path);
	free(c);
}

static void con_destroy(struct virtio_dev *d)
{
	struct vcon *c = d->priv;

	if (c->dropped)
		spry_info("virtio-console: %llu bytes of guest output dropped (no reader)",
			  (unsigned long long)c->dropped);
	vcon_free(c);
}

static const struct virtio_dev_ops vcon_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.nqueues = 2,
	.queue_max = CON_QUEUE_MAX,
	.features = 0,
	.config_size = sizeof(struct con_config),
	.config_read = con_config_read,
	.start = con_start,
	.queue_notify = con_queue_notify,
	.reset = con_reset,
	.destroy = con_destroy,
};

/* ---- backends ---- */

static bool fd_valid(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static int open_stdio(struct vcon *c)
{
	c->in_fd = fd_valid(STDIN_FILENO) ? STDIN_FILENO : -1;
	c->out_fd = fd_valid(STDOUT_FILENO) ? STDOUT_FILENO : -1;
	if (c->in_fd < 0)
		c->in_eof = true;
	if (c->in_fd >= 0)
		c->raw = terminal_make_raw(c->in_fd);
	return 0;
}

static int open_pty(struct vcon *c)
{
	char name[64];
	struct termios raw;

	c->in_fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (c->in_fd < 0 || grantpt(c->in_fd) || unlockpt(c->in_fd) ||
	    ptsname_r(c->in_fd, name, sizeof(name))) {
		spry_err("virtio-console: cannot create a pty: %s", strerror(errno));
		return -1;
	}
	c->out_fd = c->in_fd;
	/* Our own slave fd keeps the pty in raw mode and the master readable without a user. */
	c->pty_slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (c->pty_slave < 0 || tcgetattr(c->pty_slave, &raw)) {
		spry_err("virtio-console: cannot open %s: %s", name, strerror(errno));
		return -1;
	}
	cfmakeraw(&raw);
	if (tcsetattr(c->pty_slave, TCSANOW, &raw)) {
		spry_err("virtio-console: cannot set %s raw: %s", name, strerror(errno));
		return -1;
	}
	spry_info("virtio-console: pty %s", name);
	return 0;
}

static int open_socket(struct vcon *c, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;

	if (!path || !*path || strlen(path) >= sizeof(addr.sun_path)) {
		spry_err("virtio-console: bad socket path '%s'", path ? path : "");
		return -1;
	}
	c->socket_path = strdup(path);
	if (!c->socket_path)
		return -1;
	strcpy(addr.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			spry_err("virtio-console: %s exists and is not a socket", path);
			return -1;
		}
		if (unlink(path)) {
			spry_err("virtio-console: cannot remove stale socket %s: %s", path,
				 strerror(errno));
			return -1;
		}
	}
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->listen_fd < 0) {
		spry_err("virtio-console: socket: %s", strerror(errno));
		return -1;
	}
	if (bind(c->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(c->listen_fd, 1)) {
		spry_err("virtio-console: cannot listen on %s: %s", path, strerror(errno));
		close(c->listen_fd);
		c->listen_fd = -1;
		return -1;
	}
	c->connected = false;
	return 0;
}

static int add_files(struct vcon *c)
{
	if (c->kind == CONSOLE_SOCKET) {
		c->listen_index = io_loop_add_file(c->loop, c->listen_fd);
		if (c->listen_index < 0)
			return c->listen_index;
		c->client_index = io_loop_reserve_file(c->loop);
		return c->client_index < 0 ? c->client_index : 0;
	}
	if (c->in_fd >= 0) {
		c->in_index = io_loop_add_file(c->loop, c->in_fd);
		if (c->in_index < 0)
			return c->in_index;
	}
	if (c->out_fd == c->in_fd) {
		c->out_index = c->in_index;
	} else if (c->out_fd >= 0) {
		c->out_index = io_loop_add_file(c->loop, c->out_fd);
		if (c->out_index < 0)
			return c->out_index;
	}
	return 0;
}

struct virtio_dev *virtio_console_create(struct vm *vm, struct io_loop *loop, unsigned int index,
					 const struct console_config *cfg)
{
	struct vcon *c = calloc(1, sizeof(*c));
	int ret = -1;

	if (!c) {
		spry_err("virtio-console: out of memory");
		return NULL;
	}
	c->loop = loop;
	c->kind = cfg->kind;
	c->in_fd = c->out_fd = c->in_index = c->out_index = -1;
	c->pty_slave = c->listen_fd = c->listen_index = c->client_index = -1;
	c->connected = true;
	c->rx_op.done = rx_done;
	c->tx_op.done = tx_done;
	c->accept_op.done = accept_done;
	c->cancel_op.done = cancel_done;
	switch (cfg->kind) {
	case CONSOLE_STDIO: ret = open_stdio(c); break;
	case CONSOLE_PTY: ret = open_pty(c); break;
	case CONSOLE_SOCKET: ret = open_socket(c, cfg->socket_path); break;
	case CONSOLE_NONE: spry_err("virtio-console: no backend"); break;
	}
	if (ret == 0) {
		ret = add_files(c);
		if (ret)
			spry_err("virtio-console: cannot register its files: %s", strerror(-ret));
	}
	if (ret) {
		vcon_free(c);
		return NULL;
	}
	c->dev = virtio_mmio_create(vm, loop, index, &vcon_ops, c);
	if (!c->dev) {
		vcon_free(c);
		return NULL;
	}
	return c->dev;
}
