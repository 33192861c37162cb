// DAG helpers over the `depends_on` relation. Orders are deterministic: ties are broken by step id so that
// the reducer visits steps in the same order on every machine.

/** Step ids in dependency order (each after all of its dependencies), ties by id. Assumes no cycle. */
export function topologicalOrder(deps: ReadonlyMap<string, readonly string[]>): string[] {
  const indegree = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const [id, ds] of deps) {
    indegree.set(id, ds.length);
    for (const d of ds) {
      const list = dependents.get(d);
      if (list === undefined) dependents.set(d, [id]);
      else list.push(id);
    }
  }
  const ready = [...indegree].filter(([, n]) => n === 0).map(([id]) => id);
  ready.sort(compareIds);
  const order: string[] = [];
  while (ready.length > 0) {
    const id = ready.shift() as string;
    order.push(id);
    const next: string[] = [];
    for (const child of dependents.get(id) ?? []) {
      const n = (indegree.get(child) ?? 0) - 1;
      indegree.set(child, n);
      if (n === 0) next.push(child);
    }
    if (next.length > 0) {
      ready.push(...next);
      ready.sort(compareIds);
    }
  }
  return order;
}

/**
 * The first cycle found, as a closed path (`[a, b, c, a]` for a → b → c → a, reading "a depends on b"),
 * or undefined. Only edges to known steps are followed.
 */
export function findCycle(deps: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const state = new Map<string, 1 | 2>(); // 1 on the stack, 2 done
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    state.set(id, 1);
    stack.push(id);
    for (const d of [...(deps.get(id) ?? [])].sort(compareIds)) {
      if (!deps.has(d)) continue;
      const s = state.get(d);
      if (s === 1) return [...stack.slice(stack.indexOf(d)), d];
      if (s === undefined) {
        const found = visit(d);
        if (found !== undefined) return found;
      }
    }
    stack.pop();
    state.set(id, 2);
    return undefined;
  };
  for (const id of [...deps.keys()].sort(compareIds)) {
    if (state.has(id)) continue;
    const found = visit(id);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Every step `id` depends on, directly or not. */
export function ancestorsOf(id: string, deps: ReadonlyMap<string, readonly string[]>): Set<string> {
  const out = new Set<string>();
  const todo = [...(deps.get(id) ?? [])];
  while (todo.length > 0) {
    const d = todo.pop() as string;
    if (out.has(d)) continue;
    out.add(d);
    todo.push(...(deps.get(d) ?? []));
  }
  return out;
}

/** Every step that depends on `id`, directly or not. */
export function descendantsOf(id: string, deps: ReadonlyMap<string, readonly string[]>): Set<string> {
  const out = new Set<string>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const [s, ds] of deps) {
      if (out.has(s)) continue;
      if (ds.some((d) => d === id || out.has(d))) {
        out.add(s);
        grew = true;
      }
    }
  }
  return out;
}

/** Byte order, like every other ordering in Cordum (not locale-dependent). */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
