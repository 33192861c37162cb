// The routing and timeout documents (system config data.pools / data.timeouts) are parsed by @cordum/core, so
// that the gateway validates a written document by exactly the rules the scheduler routes by.
export {
  DEFAULT_RECONCILER,
  type PoolsConfig,
  type TimeoutsConfig,
  type TopicTimeouts,
  parsePoolsConfig,
  parseTimeoutsConfig,
  poolsForTopic,
  timeoutsForTopic,
} from '@cordum/core';
