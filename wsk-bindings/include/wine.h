/* What wsk-bindings needs from Wine's headers (Debian libwine-dev): the WDM subset and WSK. */
#include <stdarg.h>
#include <ntstatus.h>
#define WIN32_NO_STATUS
#include <windef.h>
#include <winternl.h>
#include <ddk/wdm.h>
#include <ddk/wsk.h>
#include <ws2ipdef.h>
