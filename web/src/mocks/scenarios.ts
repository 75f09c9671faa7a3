/**
 * Named mock APIs: one per state the UI must show (all up, degraded, down, unknown,
 * partial, flapping, a newer node's unknown values, empty history, 500 nodes).
 */
import type { RuntimeItem } from '../api/schemas';
import {
  MOCK_NOW,
  makeDetail,
  makeEvents,
  makeItem,
  makeMeta,
  makeRuntimeList,
  makeSlots,
  makeUnreachableItem,
  notObserved,
  xrayDown,
} from './builders';
import type { MockApi, MockFrame } from './transport';

const hello = (id: string): MockFrame => ({
  event: 'hello',
  data: { node_id: id, connected_at: new Date(MOCK_NOW).toISOString() },
});

/** Stream frames of a healthy connection: hello, then the snapshot. */
export function liveFrames(id: string, detail: unknown): MockFrame[] {
  return [hello(id), { event: 'snapshot', data: detail }, { comment: 'keepalive' }];
}

/** A cluster API where every reachable node's detail and stream come from its list row. */
function clusterApi(items: RuntimeItem[], extra: Partial<MockApi> = {}): MockApi {
  const details: Record<string, unknown> = {};
  const streams: Record<string, MockFrame[]> = {};
  items.forEach((item, index) => {
    if (item.error) {
      // The proxying node answers 503 for the detail and node_error on the stream.
      streams[item.node_id] = [
        hello(item.node_id),
        { event: 'node_error', data: { node_id: item.node_id, error: item.error } },
      ];
      return;
    }
    const detail = makeDetail(item, makeEvents(12 + index * 7));
    details[item.node_id] = detail;
    streams[item.node_id] = liveFrames(item.node_id, detail);
  });
  return { nodes: makeMeta(items), runtime: makeRuntimeList(items), details, streams, ...extra };
}

const blips = { ...xrayDown(40, 1, 20), ...xrayDown(200, 1, 45), ...xrayDown(290, 2, 600) };

export const tokyo = makeItem({ id: 'node-a', name: 'Tokyo edge', patches: blips });
const frankfurt = makeItem({
  id: 'node-b',
  name: 'Frankfurt edge',
  cloudflared: false,
  patches: xrayDown(120, 3, 1500),
});
const virginia = makeItem({
  id: 'node-c',
  name: 'Virginia edge',
  patches: { ...xrayDown(10, 1, 90), ...notObserved(150, 6) },
});

export const allUp = clusterApi([tokyo, frankfurt, virginia]);

/** xray down on a node whose cloudflared is up: degraded, for the last 2 hours. */
const degradedNode = makeItem({
  id: 'node-b',
  name: 'Frankfurt edge',
  xray: 'down',
  patches: { ...xrayDown(331, 4, 1800, 1), ...xrayDown(335, 1, 420, 0), ...xrayDown(100, 1, 60) },
});
export const degraded = clusterApi([tokyo, degradedNode, virginia]);

/** The only supervised component down: the node is down. */
const downNode = makeItem({
  id: 'node-c',
  name: 'Virginia edge',
  xray: 'down',
  cloudflared: false,
  patches: { ...xrayDown(300, 35, 1800, 0), ...xrayDown(335, 1, 420, 0), ...xrayDown(299, 1, 700, 1) },
});
export const down = clusterApi([tokyo, frankfurt, downNode]);

/** Just started: nothing known yet, the history almost empty. */
const unknownNode = makeItem({
  id: 'node-d',
  name: 'Singapore edge',
  xray: 'unknown',
  cloudflaredStatus: 'unknown',
  patches: notObserved(0, 335),
});
export const unknown = clusterApi([tokyo, unknownNode]);

export const partial = clusterApi([
  tokyo,
  makeUnreachableItem('node-b', 'Frankfurt edge', 'timed out after 5 s'),
  virginia,
  makeUnreachableItem('node-e', 'São Paulo edge', 'connection refused', makeSlots({ patches: notObserved(0, 336) })),
]);

/** Many status changes in a slot: flapping, visible apart from a plain outage. */
const flappingNode = makeItem({
  id: 'node-f',
  name: 'Flappy edge',
  patches: {
    ...xrayDown(250, 30, 240, 9),
    ...xrayDown(280, 1, 1800, 1),
    ...xrayDown(320, 6, 30, 6),
  },
});
export const flapping = clusterApi([tokyo, flappingNode]);

/** xray answers again but needs 3 probes in a row to be up (XP_XRAY_HEALTH_SUCCESSES_BEFORE_UP=3). */
const recoveringNode: RuntimeItem = (() => {
  const item = makeItem({ id: 'node-r', name: 'Recovering edge', xray: 'down', patches: xrayDown(335, 1, 420, 1) });
  const [xp, xray, cloudflared] = item.components;
  if (!xp || !xray || !cloudflared) throw new Error('makeItem lists three components');
  return {
    ...item,
    components: [xp, { ...xray, consecutive_failures: 0, recovering: { successes: 2, needed: 3 } }, cloudflared],
  };
})();
export const recovering = clusterApi([tokyo, recoveringNode]);

/** Empty history: a node that has never been observed, and no events. */
const emptyNode = makeItem({
  id: 'node-g',
  name: 'Fresh edge',
  xray: 'unknown',
  cloudflaredStatus: 'unknown',
  slots: makeSlots({ patches: notObserved(0, 336) }),
});
export const emptyHistory: MockApi = {
  ...clusterApi([emptyNode]),
  details: { 'node-g': makeDetail(emptyNode, []) },
  streams: { 'node-g': liveFrames('node-g', makeDetail(emptyNode, [])) },
};

/** A node the proxying agent cannot reach any more: the last snapshot stays, the pill says why. */
export const unreachableKept: MockApi = (() => {
  const detail = makeDetail(degradedNode);
  return {
    ...clusterApi([degradedNode]),
    streams: {
      'node-b': [
        ...liveFrames('node-b', detail),
        { event: 'node_error', data: { node_id: 'node-b', error: 'timed out after 5 s' } },
      ],
    },
  };
})();

/** A newer agent: values and fields this page does not know. */
function newerNodeJson() {
  const item = makeItem({ id: 'node-n', name: 'Newer edge', patches: xrayDown(330, 2, 900) });
  const slots: unknown[] = item.recent_slots.map((slot, index) =>
    index >= 332 ? { ...slot, summary: 'maintenance', xray: 'draining', quality: 0.4 } : slot,
  );
  const components = [
    ...item.components.map((component) =>
      component.component === 'xray' ? { ...component, status: 'draining', drain_started_at: null } : component,
    ),
    { ...item.components[1], component: 'nginx', status: 'up' },
  ];
  const events = [
    {
      ...makeEvents(1)[0],
      event_id: '01MOCKNEWER0000000000000002',
      kind: 'drain_started',
      level: 'notice',
      component: 'nginx',
      message: 'nginx drain started (a kind this page does not know)',
      status_from: 'up',
      status_to: 'draining',
      trace_id: 'abc',
    },
    ...makeEvents(5),
  ];
  const row = { ...item, summary: 'maintenance', components, recent_slots: slots, region: 'ap-southeast' };
  return { row, detail: { ...row, events } };
}

export const newerNode: MockApi = (() => {
  const { row, detail } = newerNodeJson();
  return {
    nodes: {
      items: [
        {
          node_id: 'node-n',
          node_name: 'Newer edge',
          api_base_url: 'https://node-n.example.net',
          access_host: null,
          labels: ['x'],
        },
      ],
    },
    runtime: {
      partial: false,
      unreachable_nodes: [],
      items: [row, tokyo],
      generated_at: new Date(MOCK_NOW).toISOString(),
    },
    details: { 'node-n': detail },
    streams: { 'node-n': liveFrames('node-n', detail) },
  };
})();

/** One row missing a required field: that row shows an error, the others render. */
export const invalidItem: MockApi = (() => {
  const { recent_slots: _slots, ...broken } = makeItem({ id: 'node-x', name: 'Broken edge' });
  return {
    ...clusterApi([tokyo, virginia]),
    runtime: { partial: false, unreachable_nodes: [], items: [tokyo, broken, virginia] },
  };
})();

/** A fleet of 500 with a few problems scattered through it. */
export function manyNodes(count = 500): MockApi {
  const items = Array.from({ length: count }, (_, index) => {
    const id = `node-${String(index).padStart(3, '0')}`;
    const name = `Edge ${String(index).padStart(3, '0')}`;
    if (index % 97 === 13) return makeUnreachableItem(id, name, 'timed out after 5 s');
    const patches = {
      ...xrayDown((index * 37) % 330, 1 + (index % 3), 60 + ((index * 131) % 1740)),
      ...(index % 11 === 0 ? xrayDown(200, 4, 300, 6) : {}),
    };
    return makeItem({ id, name, xray: index % 53 === 7 ? 'down' : 'up', cloudflared: index % 4 !== 0, patches });
  });
  return { nodes: makeMeta(items), runtime: makeRuntimeList(items) };
}
