/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef VMMU_KVM_GUEST_H
#define VMMU_KVM_GUEST_H

/*
 * Run a real-mode guest on in-tree KVM (/dev/kvm) that stores a byte to
 * guest memory and halts.  Returns 0 when the guest reached HLT and the host
 * sees the byte, -errno when an ioctl failed, or a positive code naming the
 * step that went wrong (see kvm_guest.c).
 */
int kvm_run_store_and_halt(void);

/* A new KVM VM (KVM_CREATE_VM, default type): its fd, or -errno. */
int kvm_new_vm(void);

/*
 * KVM_SET_USER_MEMORY_REGION on a KVM VM: 0 or -errno.  @size 0 deletes
 * the slot.
 */
int kvm_set_memslot(int vm, unsigned int slot, unsigned long long gpa,
		    unsigned long long size, const void *hva);

#endif /* VMMU_KVM_GUEST_H */
