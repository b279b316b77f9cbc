// A fix, from outside, for FoundationNetworking's socket sources (swift-corelibs-foundation,
// Sources/FoundationNetworking/URLSession/libcurl/MultiHandle.swift).
//
// URLSession on Linux drives libcurl's multi interface with Dispatch: libcurl's socket
// callback says which readiness it wants on a socket (in, out, both, or remove), and
// URLSession makes a Dispatch read and/or write source for it. But when libcurl narrows
// its interest without removing the socket first (out to in: a new connection is
// connected and its request sent), URLSession only ever adds sources and never cancels
// the one no longer wanted. The write source stays, the socket is always writable, and
// it fires without end: each time URLSession calls curl_multi_socket_action, libcurl
// finds nothing to do, and the source fires again. On a long poll that opened its own
// connection the agent then burns a whole core until the reply, up to the poll's wait:
// measured 29.8 s of CPU in 30 s against a control plane that closes connections.
//
// The fix: this program defines curl_multi_setopt, which the dynamic linker then binds
// FoundationNetworking's calls to (the executable comes first in the lookup order), and
// passes every option through to libcurl's own (dlsym RTLD_NEXT), except that it puts a
// wrapper in front of the socket callback. When libcurl narrows a socket's interest, the
// wrapper tells URLSession "remove" and then the new interest, as libcurl itself does
// between two transfers: URLSession then cancels both sources and makes only the ones
// wanted.
#define _GNU_SOURCE
#include "CCurlSockets.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>

// libcurl's ABI (curl/multi.h, stable since 7.15): not included, as a machine without
// libcurl's headers must still build this.
typedef void CURLM;
typedef void CURL;
typedef int curl_socket_t;
typedef int CURLMcode;
typedef int CURLMoption;
typedef int (*curl_socket_callback)(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp);
enum {
    CURL_POLL_NONE = 0,
    CURL_POLL_IN = 1,
    CURL_POLL_OUT = 2,
    CURL_POLL_INOUT = 3,
    CURL_POLL_REMOVE = 4,
    CURLOPTTYPE_OBJECTPOINT = 10000,
    CURLOPTTYPE_FUNCTIONPOINT = 20000,
    CURLOPTTYPE_OFF_T = 30000,
    CURLMOPT_SOCKETFUNCTION = CURLOPTTYPE_FUNCTIONPOINT + 1,
    CURLM_UNKNOWN_OPTION = 6,
};

typedef CURLMcode (*setopt_function)(CURLM *multi, CURLMoption option, ...);

// One multi handle's callback: the agent has one URLSession, so one slot is enough;
// a second multi handle with another callback is passed through unwrapped.
static _Atomic(curl_socket_callback) original;

// The interest libcurl last asked for on each socket, as libcurl calls the callback
// for one multi handle from one thread at a time (URLSession's serial work queue).
enum { TRACKED = 65536 };
static unsigned char interest[TRACKED];

static int wrapper(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
    curl_socket_callback forward = atomic_load(&original);
    if (!forward) return 0;
    if (s < 0 || s >= TRACKED) return forward(easy, s, what, userp, socketp);
    int before = interest[s];
    interest[s] = (unsigned char)(what == CURL_POLL_REMOVE ? CURL_POLL_NONE : what);
    int dropped = before & ~what & CURL_POLL_INOUT;
    if (what != CURL_POLL_REMOVE && dropped && socketp) {
        // URLSession releases its sources object on "remove", and makes a new one, which
        // it stores with curl_multi_assign, on the next registration without one.
        forward(easy, s, CURL_POLL_REMOVE, userp, socketp);
        return forward(easy, s, what, userp, NULL);
    }
    return forward(easy, s, what, userp, socketp);
}

static setopt_function real_setopt;
static pthread_once_t lookup = PTHREAD_ONCE_INIT;
static void find_real(void) { real_setopt = (setopt_function)dlsym(RTLD_NEXT, "curl_multi_setopt"); }

CURLMcode curl_multi_setopt(CURLM *multi, CURLMoption option, ...) {
    pthread_once(&lookup, find_real);
    if (!real_setopt) return CURLM_UNKNOWN_OPTION;
    va_list arguments;
    va_start(arguments, option);
    CURLMcode code;
    if (option == CURLMOPT_SOCKETFUNCTION) {
        curl_socket_callback given = va_arg(arguments, curl_socket_callback);
        curl_socket_callback expected = NULL;
        if (given && (atomic_compare_exchange_strong(&original, &expected, given) || expected == given)) {
            code = real_setopt(multi, option, wrapper);
        } else {
            code = real_setopt(multi, option, given);
        }
    } else if (option >= CURLOPTTYPE_OFF_T) {
        long long value = va_arg(arguments, long long);
        code = real_setopt(multi, option, value);
    } else if (option >= CURLOPTTYPE_OBJECTPOINT) {
        void *value = va_arg(arguments, void *);
        code = real_setopt(multi, option, value);
    } else {
        long value = va_arg(arguments, long);
        code = real_setopt(multi, option, value);
    }
    va_end(arguments);
    return code;
}
