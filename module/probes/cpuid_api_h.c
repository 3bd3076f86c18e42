// SPDX-License-Identifier: GPL-2.0-only
/* <asm/cpuid/api.h>: where cpuid_count() and friends live from 7.x. */
#include <asm/cpuid/api.h>
