/*
 * Machine assembly and lifecycle: memory, kernel load, accelerator, devices
 * and vCPUs are set up once; then the main thread waits for a stop request,
 * a signal, or console input, until the first stop request decides the exit.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "spry/console.h"
#include "spry/devices.h"
#include "spry/pit.h"
#include "spry/exit.h"
#include "spry/file.h"
#include "spry/log.h"
#include "spry/vcpu.h"
#include "spry/virtio_devices.h"
#include "spry/vm.h"

#define INPUT_RETRY_MS 10	/* re-check a full UART FIFO this often */

void vm_request_stop(struct vm *vm, int exit_status)
{
	uint64_t one = 1;

	pthread_mutex_lock(&vm->stop_lock);
	if (!vm_stopping(vm)) {
		vm->exit_status = exit_status;
		atomic_store_explicit(&vm->stopping, true, memory_order_release);
		if (write(vm->stop_efd, &one, sizeof(one)) < 0)
			spry_err("cannot signal the stop request: %s", strerror(errno));
	}
	pthread_mutex_unlock(&vm->stop_lock);
}

/* The state of @vcpu in four lines of the log, for a guest that died on it. */
static void vcpu_log_state(struct vcpu *vcpu)
{
	struct vcpu_state s;
	const uint64_t *g = s.gpr;
	int i = vcpu->index;

	if (vcpu->vm->accel->vcpu_get_state(vcpu, &s)) {
		spry_err("vcpu %d: cannot read its state", i);
		return;
	}
	spry_info("vcpu %d: rip %#llx rflags %#llx cr0 %#llx cr2 %#llx cr3 %#llx cr4 %#llx "
		  "efer %#llx", i, (unsigned long long)s.rip, (unsigned long long)s.rflags,
		  (unsigned long long)s.cr0, (unsigned long long)s.cr2,
		  (unsigned long long)s.cr3, (unsigned long long)s.cr4,
		  (unsigned long long)s.efer);
	spry_info("vcpu %d: rax %#llx rcx %#llx rdx %#llx rbx %#llx rsp %#llx rbp %#llx "
		  "rsi %#llx rdi %#llx", i, (unsigned long long)g[0], (unsigned long long)g[1],
		  (unsigned long long)g[2], (unsigned long long)g[3], (unsigned long long)g[4],
		  (unsigned long long)g[5], (unsigned long long)g[6], (unsigned long long)g[7]);
	spry_info("vcpu %d: r8 %#llx r9 %#llx r10 %#llx r11 %#llx r12 %#llx r13 %#llx "
		  "r14 %#llx r15 %#llx", i, (unsigned long long)g[8], (unsigned long long)g[9],
		  (unsigned long long)g[10], (unsigned long long)g[11], (unsigned long long)g[12],
		  (unsigned long long)g[13], (unsigned long long)g[14], (unsigned long long)g[15]);
	spry_info("vcpu %d: es %#x cs %#x ss %#x ds %#x fs %#x gs %#x fs.base %#llx "
		  "gs.base %#llx gdt %#llx/%#x idt %#llx/%#x", i, s.sel[0], s.sel[1], s.sel[2],
		  s.sel[3], s.sel[4], s.sel[5], (unsigned long long)s.fs_base,
		  (unsigned long long)s.gs_base, (unsigned long long)s.gdt_base, s.gdt_limit,
		  (unsigned long long)s.idt_base, s.idt_limit);
}

void vm_vcpu_failed(struct vcpu *vcpu, int exit_status)
{
	/* Only the first failure is worth the state: later ones are its consequences. */
	if (!vm_stopping(vcpu->vm))
		vcpu_log_state(vcpu);
	vm_request_stop(vcpu->vm, exit_status);
}

void vm_irq_line(struct vm *vm, unsigned int gsi, int level)
{
	if (vm->accel->irq_line(vm, gsi, level) < 0)
		spry_err("irq %u: cannot set level %d: %s", gsi, level, strerror(errno));
}

/* Map the kernel and initrds and let the boot code place them in guest RAM. */
static int vm_load_kernel(struct vm *vm, const struct vm_config *cfg)
{
	struct mapped_file kernel, initrd[SPRY_MAX_INITRDS];
	struct boot_blob blobs[SPRY_MAX_INITRDS];
	struct boot_config bc = {
		.cmdline = cfg->cmdline, .ncpus = cfg->ncpus,
		.nvirtio_mmio = vm_virtio_count(cfg),
	};
	enum boot_protocol protocol;
	char err[256];
	int i, ret = -1;

	if (map_file(cfg->kernel, "kernel", &kernel, err, sizeof(err)))
		goto out_err;
	for (i = 0; i < cfg->ninitrds; i++) {
		if (map_file(cfg->initrds[i], "initrd", &initrd[i], err, sizeof(err))) {
			spry_err("%s", err);
			goto out_unmap;
		}
		blobs[i] = (struct boot_blob){ cfg->initrds[i], initrd[i].data, initrd[i].size };
	}
	bc.kernel = (struct boot_blob){ cfg->kernel, kernel.data, kernel.size };
	bc.initrds = blobs;
	bc.ninitrds = cfg->ninitrds;
	ret = boot_load(&vm->mem, &bc, &protocol, &vm->boot, err, sizeof(err));
	if (ret)
		spry_err("kernel '%s': %s", cfg->kernel, err);
out_unmap:
	while (i-- > 0)
		unmap_file(&initrd[i]);
	unmap_file(&kernel);
	return ret;
out_err:
	spry_err("%s", err);
	return ret;
}

/* virtio-mmio windows in order: the disks, then the console, then the rng. */
unsigned int vm_virtio_count(const struct vm_config *cfg)
{
	return (unsigned int)cfg->ndisks + (cfg->console.kind != CONSOLE_NONE) + cfg->rng.enabled;
}

static int vm_add_virtio(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	unsigned int index = 0;

	if (!vm_virtio_count(cfg))
		return 0;
	vm->io = io_loop_create();
	if (!vm->io)
		return -1;
	for (int i = 0; i < cfg->ndisks; i++)
		if (!virtio_blk_create(vm, vm->io, index++, &cfg->disks[i]))
			return -1;
	if (cfg->console.kind != CONSOLE_NONE &&
	    !virtio_console_create(vm, vm->io, index++, &cfg->console))
		return -1;
	if (cfg->rng.enabled && !virtio_rng_create(vm, vm->io, index++, &cfg->rng))
		return -1;
	return 0;
}

static int vm_add_devices(struct vm *vm)
{
	/* With the virtio console on stdio, the serial console is not connected. */
	if (vm->cfg->console.kind != CONSOLE_STDIO) {
		vm->console = console_create(STDIN_FILENO, STDOUT_FILENO);
		if (!vm->console)
			return -1;
	}
	vm->serial = serial_init(vm, SPRY_PORT_COM1, SPRY_IRQ_COM1, vm->console);
	if (!vm->serial)
		return -1;
	if (i8042_init(vm) || rtc_init(vm) || debug_exit_init(vm) || boot_timer_init(vm) ||
	    acpi_sleep_init(vm))
		return -1;
	if (!vm->accel->has_pit && pit_init(vm))
		return -1;
	return 0;
}

static int vm_create_vcpus(struct vm *vm)
{
	for (int i = 0; i < vm->ncpus; i++) {
		vm->vcpus[i].vm = vm;
		vm->vcpus[i].index = i;
		if (vm->accel->vcpu_create(&vm->vcpus[i]))
			return -1;
	}
	/* Application processors wait for the guest's INIT/SIPI, as on hardware. */
	return vm->accel->vcpu_set_boot_state(&vm->vcpus[0], &vm->boot);
}

int vm_load(struct vm *vm, const struct vm_config *cfg)
{
	int err;

	vm->cfg = cfg;
	vm->ncpus = cfg->ncpus;
	vm->stop_efd = -1;
	pthread_mutex_init(&vm->stop_lock, NULL);
	err = guest_memory_init(&vm->mem, cfg->memory);
	if (err) {
		spry_err("cannot allocate %llu MiB of guest memory: %s",
			 (unsigned long long)(cfg->memory >> 20), strerror(-err));
		return -1;
	}
	return vm_load_kernel(vm, cfg);
}

int vm_create(struct vm *vm, const struct accel_ops *accel)
{
	vm->accel = accel;
	vm->pio.name = "port";
	vm->mmio.name = "mmio address";
	vm->stop_efd = eventfd(0, EFD_CLOEXEC);
	if (vm->stop_efd < 0) {
		spry_err("eventfd: %s", strerror(errno));
		return -1;
	}
	if (accel->create(vm) || vm_add_devices(vm) || vm_add_virtio(vm) || vm_create_vcpus(vm))
		return -1;
	if (vm->io) {
		int err = io_loop_start(vm->io);

		if (err) {
			spry_err("cannot start the I/O loop: %s", strerror(-err));
			return -1;
		}
	}
	return 0;
}

/* Hand console input to the UART, never more than its FIFO has room for. */
static void vm_console_input(struct vm *vm)
{
	uint8_t buf[64];
	size_t room = serial_rx_room(vm->serial);
	bool quit;
	long n;

	if (room > sizeof(buf))
		room = sizeof(buf);
	n = console_read_input(vm->console, buf, room, &quit);
	if (quit) {
		spry_info("stopped from the console (Ctrl-A x)");
		vm_request_stop(vm, SPRY_EXIT_SIGNAL);
	}
	if (n > 0)
		serial_receive(vm->serial, buf, (size_t)n);
}

static void vm_handle_signal(struct vm *vm, int sfd)
{
	struct signalfd_siginfo si;

	if (read(sfd, &si, sizeof(si)) != sizeof(si))
		return;
	spry_info("stopping on signal %s", strsignal((int)si.ssi_signo));
	vm_request_stop(vm, SPRY_EXIT_SIGNAL);
}

static void vm_main_loop(struct vm *vm, int sfd)
{
	while (!vm_stopping(vm)) {
		int in_fd = vm->console ? console_input_fd(vm->console) : -1;
		bool room = in_fd >= 0 && serial_rx_room(vm->serial) > 0;
		struct pollfd fds[3] = {
			{ .fd = vm->stop_efd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = room ? in_fd : -1, .events = POLLIN },
		};
		int timeout = in_fd >= 0 && !room ? INPUT_RETRY_MS : -1;

		if (poll(fds, 3, timeout) < 0 && errno != EINTR) {
			spry_err("poll: %s", strerror(errno));
			vm_request_stop(vm, SPRY_EXIT_ERROR);
			break;
		}
		if (fds[1].revents & POLLIN)
			vm_handle_signal(vm, sfd);
		if (fds[2].revents & (POLLIN | POLLHUP | POLLERR))
			vm_console_input(vm);
	}
}

static void stop_signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

void vm_block_signals(void)
{
	sigset_t set;

	/* Before any thread exists or the terminal goes raw, so all inherit it. */
	stop_signal_set(&set);
	sigaddset(&set, SPRY_SIG_KICK);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int vm_run(struct vm *vm)
{
	sigset_t stop_signals;
	int sfd;

	stop_signal_set(&stop_signals);
	sfd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
	if (sfd < 0) {
		spry_err("signalfd: %s", strerror(errno));
		return SPRY_EXIT_ERROR;
	}
	if (vcpus_start(vm))
		vm_request_stop(vm, SPRY_EXIT_ERROR);
	vm_main_loop(vm, sfd);
	vcpus_stop(vm);
	close(sfd);
	return vm->exit_status;
}

void vm_destroy(struct vm *vm)
{
	if (vm->accel)
		vcpus_stop(vm);
	/* Devices outlive the loop that completes their requests. */
	io_loop_destroy(vm->io);
	vm->io = NULL;
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	console_destroy(vm->console);
	vm->console = NULL;
	if (vm->accel && vm->accel_state)
		vm->accel->destroy(vm);
	guest_memory_destroy(&vm->mem);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	pthread_mutex_destroy(&vm->stop_lock);
}
