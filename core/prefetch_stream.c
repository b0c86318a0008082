#include "prefetch_stream.h"

void tp_stream_note(struct tp_prefetch_stream *st, uint32_t id)
{
    st->recent[st->next] = id;
    st->next = (uint8_t)((st->next + 1) % TP_STREAM_HISTORY);
    if (st->count < TP_STREAM_HISTORY)
        st->count++;
}

int64_t tp_stream_trend(const struct tp_prefetch_stream *st)
{
    if (st->count < TP_STREAM_MIN_VOTES + 1)
        return 0;
    int64_t deltas[TP_STREAM_HISTORY - 1];
    unsigned n = 0;
    unsigned oldest = (st->next + TP_STREAM_HISTORY - st->count) % TP_STREAM_HISTORY;
    for (unsigned i = 1; i < st->count; i++) {
        uint32_t a = st->recent[(oldest + i - 1) % TP_STREAM_HISTORY];
        uint32_t b = st->recent[(oldest + i) % TP_STREAM_HISTORY];
        deltas[n++] = (int64_t)b - (int64_t)a;
    }
    /* Boyer-Moore: the only candidate a majority can have, then a count. */
    int64_t candidate = 0;
    unsigned lead = 0;
    for (unsigned i = 0; i < n; i++) {
        if (lead == 0)
            candidate = deltas[i];
        lead += deltas[i] == candidate ? 1u : (unsigned)-1;
    }
    unsigned votes = 0;
    for (unsigned i = 0; i < n; i++)
        votes += deltas[i] == candidate;
    if (candidate == 0 || votes * 2 <= n || votes < TP_STREAM_MIN_VOTES)
        return 0;
    return candidate;
}

uint32_t tp_stream_window(struct tp_prefetch_stream *st, uint32_t max)
{
    if (st->window == 0)
        st->window = 2;
    if (st->window > max)
        st->window = max;
    return st->window;
}

void tp_stream_used(struct tp_prefetch_stream *st, uint32_t max)
{
    if (++st->used * 2 < st->window)
        return;
    st->used = 0;
    st->window = st->window * 2 < max ? st->window * 2 : max;
}

void tp_stream_wasted(struct tp_prefetch_stream *st)
{
    st->used = 0;
    st->window = st->window > 1 ? st->window / 2 : 1;
}
