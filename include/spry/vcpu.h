/*
 * vCPU threads: one pthread per vCPU running the accelerator's loop, and the
 * signal that kicks a thread out of it.
 */
#ifndef SPRY_VCPU_H
#define SPRY_VCPU_H

#include <signal.h>

#include "spry/vm.h"

#define SPRY_SIG_KICK SIGUSR1

/* Start every vCPU thread; 0, or -1 with a message printed. */
int vcpus_start(struct vm *vm);
/* Kick every vCPU out of its loop and wait for the threads to end. */
void vcpus_stop(struct vm *vm);

#endif
