/*
 * The kernel-mode header set of a Linux KMDF build, over Wine's DDK headers (Debian
 * libwine-dev): what the WDK's ntifs.h / ntddk.h / wsk.h would bring, in the order Wine's
 * headers need. Used only by `cargo xtask build`'s WDK-shaped root; Windows builds use the WDK.
 */
#ifndef WSKRS_PRELUDE_H
#define WSKRS_PRELUDE_H
#include <stdarg.h>
#include <ntstatus.h>
#define WIN32_NO_STATUS
#include <windef.h>
#include <winternl.h>
#include <ddk/wdm.h>
#include <ddk/ntddk.h>
#include <ddk/ntifs.h>

/* POOL_FLAGS (ExAllocatePool2's flags, wdm.h of the WDK 10.0.19041+) is newer than Wine 8.0. */
typedef ULONG64 POOL_FLAGS;
#endif
