// Package bot owns the platform-neutral chat model of the last stage of the flow: the Message a
// card or reply is made of (title, severity, fields, sections, an image, buttons), the identity of
// the person behind an event, the Event an adapter delivers, and the Adapter interface that
// bot/slack, bot/discord and bot/console implement. The Notifier turns incidents and proposals
// into cards, posts them once and edits them in place as they change.
//
// Adapters only translate between their transport and these types; the commands package decides
// what an event means, and the domain packages never import this one.
//
// # Cards
//
// IncidentCard, GroupCard and ProposalCard are pure functions of the incident and proposal
// state, so every platform shows the same facts and golden files pin them. An anomaly card says
// where the latest value lies against the band frozen when the episode began (above, below,
// back inside), the episode's peak, and that band clipped to the unit's range (0 to 100 for a
// percentage; the incident keeps the model's numbers).
//
// # Groups
//
// Like an Alertmanager route, the notifier groups incidents by a key (GroupOptions.By, default
// check and rule): incidents that share it get one card per channel, however many there are. A
// new incident waits GroupOptions.Wait; a group's first card takes every incident of its key that
// arrived meanwhile. Later members join the card that is up, which is edited at most every
// GroupOptions.Interval for joins and resolutions. A card with one member is that incident's
// card; with more it is a grouped card: the count, a summary, an "Approve all N" button for each
// plan several members propose identically (its value carries N and the plan hash, so a stale
// card approves nothing, and each approval is checked and audited on its own), and the worst
// members in full, each proposal with its own buttons. When every member has resolved, the group
// is over and the next incident of its key starts a new card. Open groups are kept in the store,
// so after a restart new members still join the card that is up.
//
// The notifier holds every member of the cards in memory, so that a change of one is an edit
// without reading the others back. A storm's card may have 100,000 members; each is held in the
// least form its card needs (see keep.go), and what a card shows in full of a member held compact
// is read back for the few members it shows.
//
// # Edits
//
// Incidents change on every tick of the detector; IncidentChanged only queues the change, so the
// tick never waits for chat or charts. Changes are coalesced per card. A new value or score edits
// a card at most every NotifierOptions.EditEvery; a change of state — a proposal made or decided,
// a silence, the end of the episode — edits it at once, at most every two seconds so a burst of
// them (an approval, its run, its result) is one or two edits. Nothing is sent when the card
// would read the same. Each platform paces its own calls per channel on top of this.
//
// # Charts
//
// The notifier draws charts through NotifierOptions.Chart on at most ChartWorkers goroutines,
// only for cards it is about to post or edit, never on the detector's tick. A card's chart is
// its worst member's and is drawn when the card is new, when its worst member changes, at most
// every ChartEvery while the episode goes on and gets new points, and always when the episode
// ends, so the resolved card shows the whole episode with its span shaded. An edit carries the
// image only when it was drawn anew; where an edit cannot replace an image (Slack keeps the
// chart in the card's thread, the console prints its path) the final chart goes in the thread.
package bot
