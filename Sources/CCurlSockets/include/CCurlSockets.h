#ifndef LIMAHOST_CCURLSOCKETS_H
#define LIMAHOST_CCURLSOCKETS_H

/// This module defines `curl_multi_setopt`, in front of libcurl's: see curl_sockets.c.
/// Sockets whose Dispatch sources it has had URLSession rebuild, since the start: for tests.
unsigned long long limahost_curl_sockets_rebuilt(void);

/// Whether the wrapper stands in front of libcurl's socket callback in this process (it
/// does once a URLSession has made its multi handle, when this module is linked).
int limahost_curl_sockets_active(void);

#endif
