/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Exits that user space completes: port I/O and MMIO (emulate.c), and
 * reading guest memory for them.
 */
#ifndef VMMU_EMULATE_H
#define VMMU_EMULATE_H

#include "vcpu.h"

int vmmu_emulate_io(struct vmmu_vcpu *vcpu, u16 port, unsigned int size,
		    bool in);
void vmmu_emulate_complete_in(struct vmmu_vcpu *vcpu, u64 value);
int vmmu_emulate_mmio(struct vmmu_vcpu *vcpu, u64 gpa, bool write);
void vmmu_emulate_complete_read(struct vmmu_vcpu *vcpu, u64 value);
int vmmu_read_guest(struct vmmu_vm *vm, u64 gpa, void *buf, unsigned int len);

#endif /* VMMU_EMULATE_H */
