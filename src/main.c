/*
 * spry's entry point: parse the command line into a vm_config, pick the
 * accelerator, build the VM, run it, and turn how it ended into the exit
 * status documented in include/spry/exit.h.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "spry/config.h"
#include "spry/exit.h"
#include "spry/kvm.h"
#include "spry/log.h"
#include "spry/tcg.h"
#include "spry/tcg_user.h"
#include "spry/vm.h"

static int probe(void)
{
	char why[256];
	enum kvm_probe p = kvm_probe(why, sizeof(why));

	printf("%s\n", why);
	return p == KVM_PROBE_NATIVE ? 0 : SPRY_EXIT_NO_ACCEL;
}

/* The accelerator for @vm on this host, or NULL with the reason printed. */
static const struct accel_ops *select_accel(const struct vm *vm)
{
	char why[256], tcg_why[256];
	enum kvm_probe p = kvm_probe(why, sizeof(why));

	switch (vm->cfg->accel) {
	case ACCEL_KVM:
		if (p == KVM_PROBE_ABSENT) {
			spry_err("--accel kvm: %s", why);
			return NULL;
		}
		if (p == KVM_PROBE_EMULATED)
			spry_info("--accel kvm: %s; running anyway, slowly", why);
		return &kvm_accel_ops;
	case ACCEL_TCG:
		if (!tcg_accel_can_run(vm, why, sizeof(why))) {
			spry_err("--accel tcg: %s", why);
			return NULL;
		}
		return &tcg_accel_ops;
	default:
		if (p == KVM_PROBE_NATIVE)
			return &kvm_accel_ops;
		if (!tcg_accel_can_run(vm, tcg_why, sizeof(tcg_why))) {
			spry_err("--accel auto: %s, and %s", why, tcg_why);
			return NULL;
		}
		spry_info("--accel auto: %s; falling back to TCG-lite (interpreter, one vCPU)",
			  why);
		return &tcg_accel_ops;
	}
}

/* Bad input files are reported before anything about accelerators. */
static int run(const struct vm_config *cfg, const struct timespec *start)
{
	static struct vm vm;
	const struct accel_ops *accel;
	int status = SPRY_EXIT_ERROR;

	vm.start_wall = *start;
	if (vm_load(&vm, cfg) == 0) {
		accel = select_accel(&vm);
		if (!accel)
			status = SPRY_EXIT_NO_ACCEL;
		else if (vm_create(&vm, accel) == 0)
			status = vm_run(&vm);
	}
	vm_destroy(&vm);
	return status;
}

int main(int argc, char *argv[])
{
	struct timespec start;
	struct vm_config cfg;
	char err[256];

	clock_gettime(CLOCK_MONOTONIC, &start);
	vm_block_signals();
	switch (cli_parse(argc, argv, &cfg, err, sizeof(err))) {
	case CLI_HELP:
		fputs(spry_usage, stdout);
		return 0;
	case CLI_VERSION:
		printf("spry %s\n", SPRY_VERSION);
		return 0;
	case CLI_PROBE:
		return probe();
	case CLI_RUN:
		return run(&cfg, &start);
	case CLI_USER:
		return tcg_user_main(cfg.user_argc, cfg.user_argv, cfg.user_argv0);
	default:
		spry_err("%s", err);
		return SPRY_EXIT_ERROR;
	}
}
