/*
 * vCPU threads. Each thread unblocks only the kick signal, whose handler does
 * nothing: its delivery is what makes a blocking KVM_RUN return.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "spry/log.h"
#include "spry/vcpu.h"

static void kick_handler(int sig)
{
	(void)sig;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SPRY_SIG_KICK);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	vcpu->vm->accel->vcpu_run(vcpu);
	return NULL;
}

int vcpus_start(struct vm *vm)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	char name[16];

	/* No SA_RESTART: KVM_RUN must come back with EINTR. */
	sigemptyset(&sa.sa_mask);
	sigaction(SPRY_SIG_KICK, &sa, NULL);
	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];
		int err = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);

		if (err) {
			spry_err("cannot start vcpu %d: %s", i, strerror(err));
			return -1;
		}
		vcpu->started = true;
		snprintf(name, sizeof(name), "vcpu%d", i);
		pthread_setname_np(vcpu->thread, name);
	}
	return 0;
}

void vcpus_stop(struct vm *vm)
{
	for (int i = 0; i < vm->ncpus; i++)
		vm->accel->vcpu_kick(&vm->vcpus[i]);
	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		if (!vcpu->started)
			continue;
		pthread_join(vcpu->thread, NULL);
		vcpu->started = false;
	}
}
