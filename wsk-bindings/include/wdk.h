/* What wsk-bindings needs from the Windows Driver Kit (Windows host with a WDK). */
#include <ntddk.h>
#include <wsk.h>
#include <ws2ipdef.h>
