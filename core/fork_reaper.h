/* The forked children whose pages live on servers (a store with
 * drop_child: memcached, redis), watched from the parent so that their
 * pages go when they do, however they end.
 *
 * At each fork the parent makes a pipe: the child keeps the write end
 * (close-on-exec, and closed in the child's own children), the parent's
 * reaper thread polls the read end. The pipe reads end-of-file once the
 * child has exited, been killed or exec'd, since no other process holds
 * the write end; the reaper then asks every such store of the parent to
 * drop the child's instance (tierpage_store_ops.drop_child). */
#ifndef TIERPAGE_FORK_REAPER_H
#define TIERPAGE_FORK_REAPER_H

struct tp_stack;

/* Before fork(), on the forking thread, the stack's locks held: keeps the
 * reaper's list still until one of the two calls below. */
void tp_reaper_fork_prepare(struct tp_stack *s);
/* After fork(), in the parent: watch `lifeline` (the read end of the
 * child's pipe; -1 when the child needs no watching) for the child whose
 * stores were opened under `child_instance`. The reaper owns the
 * descriptor from here on. */
void tp_reaper_fork_parent(struct tp_stack *s, int lifeline, const char *child_instance);
/* After fork(), in the child: the parent's reaper is not the child's;
 * close what the child inherited of it. */
void tp_reaper_fork_child(struct tp_stack *s);

/* Drop the instances of the children already gone, and wait for the
 * reaper thread's drops in progress: for a process about to exit, whose
 * reaper thread would not finish them. Children still running keep their
 * pages. */
void tp_reaper_settle(struct tp_stack *s);
/* settle, then stop the thread and let go of every child still running:
 * their pages stay until their lease runs out and a later open of the
 * namespace removes them. Before the stack's tiers close. */
void tp_reaper_stop(struct tp_stack *s);

#endif
