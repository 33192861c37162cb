// @cordum/bus: the Bus port. Adapters live in @cordum/bus/memory and @cordum/bus/nats.
export {
  type Bus,
  type BusHeaders,
  type BusMessage,
  type BusStatus,
  MSG_ID_HEADER,
  type MessageHandler,
  type PublishOptions,
  type RequestOptions,
  type SubscribeOptions,
  type Subscription,
} from './port.js';
export { subjectMatches } from './subject-match.js';
