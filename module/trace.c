// SPDX-License-Identifier: GPL-2.0-only
/* Instantiates the tracepoints declared in trace.h. */
#include "vmmu.h"

#define CREATE_TRACE_POINTS
#include "trace.h"
