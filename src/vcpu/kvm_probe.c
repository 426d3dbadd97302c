/*
 * Whether /dev/kvm can run a guest's ring 0 natively. KVM backed by VMX or SVM
 * can; a shadow-paging KVM such as PVM on a host without them emulates every
 * ring-0 instruction, too slow for a Linux kernel (ENVIRONMENT.md). The CPU
 * flags tell the two apart at once, without starting a guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "spry/kvm.h"

/* True when a "flags" line of /proc/cpuinfo lists vmx or svm. */
static bool host_has_hw_virt(void)
{
	char line[8192];
	bool found = false;
	FILE *f = fopen("/proc/cpuinfo", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		found = strstr(line, " vmx") || strstr(line, " svm");
		break;
	}
	fclose(f);
	return found;
}

enum kvm_probe kvm_probe(char *why, size_t len)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		snprintf(why, len, "KVM is not available: /dev/kvm: %s", strerror(errno));
		return KVM_PROBE_ABSENT;
	}
	close(fd);
	if (!host_has_hw_virt()) {
		snprintf(why, len,
			 "KVM cannot run guest ring 0 natively on this host "
			 "(no VMX/SVM in /proc/cpuinfo; ring 0 would be emulated)");
		return KVM_PROBE_EMULATED;
	}
	snprintf(why, len, "KVM runs guest ring 0 natively (hardware virtualisation)");
	return KVM_PROBE_NATIVE;
}
