#ifndef LIMAHOST_CCURLSOCKETS_H
#define LIMAHOST_CCURLSOCKETS_H

// This module only defines `curl_multi_setopt`, in front of libcurl's, for URLSession:
// see curl_sockets.c. Nothing here is called from Swift.

#endif
