#include "listen_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPECTED "expected PORT, IPv4:PORT or [IPv6]:PORT such as 127.0.0.1:9464"

static int parse_port(const char *text, in_port_t *port)
{
    if (!*text || strlen(text) > 5 || strspn(text, "0123456789") != strlen(text))
        return -1;
    unsigned long p = strtoul(text, NULL, 10);
    if (p > 65535)
        return -1;
    *port = htons((uint16_t)p);
    return 0;
}

int tpd_address_parse(const char *text, struct tpd_address *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    char host[64];
    const char *port_text;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof host)
            goto bad;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = 0;
        port_text = close + 2;
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->sa;
        a->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1 || parse_port(port_text, &a->sin6_port) < 0)
            goto bad;
        out->len = sizeof *a;
        return 0;
    }
    const char *colon = strrchr(text, ':');
    struct sockaddr_in *a = (struct sockaddr_in *)&out->sa;
    a->sin_family = AF_INET;
    out->len = sizeof *a;
    if (!colon) {
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (parse_port(text, &a->sin_port) < 0)
            goto bad;
        return 0;
    }
    if ((size_t)(colon - text) >= sizeof host)
        goto bad;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = 0;
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1 || parse_port(colon + 1, &a->sin_port) < 0)
        goto bad;
    return 0;
bad:
    snprintf(why, why_len, EXPECTED ", got '%s'", text);
    return -1;
}

const char *tpd_address_text(const struct sockaddr *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        snprintf(buf, len, "[%s]:%u", host, ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        snprintf(buf, len, "%s:%u", host, ntohs(a->sin_port));
    }
    return buf;
}
