// Package bot owns the platform-neutral chat model of the last stage of the flow: the Message a
// card or reply is made of (title, severity, fields, sections, an image, buttons), the identity of
// the person behind an event, the Event an adapter delivers, and the Adapter interface that
// bot/slack, bot/discord and bot/console implement. The Notifier turns incidents and proposals
// into cards, posts them once and edits them in place as they change.
//
// Adapters only translate between their transport and these types; the commands package decides
// what an event means, and the domain packages never import this one.
package bot
