package classify

import (
	"github.com/pcapaudit/pcapaudit/capture"
	"github.com/pcapaudit/pcapaudit/capture/decode"
)

// Packet decodes one captured packet and follows it. Packets that are not TCP or UDP over IP
// (or do not decode) are counted in Stats().Decode and otherwise ignored.
func (e *Engine) Packet(c *capture.Packet) {
	e.stats.Packets++
	e.stats.Bytes += uint64(len(c.Data))
	e.dp.ExtVLAN = 0
	if c.HasVLAN { // a tag the capture took out of the frame
		e.dp.ExtVLAN = c.VLAN
	}
	if e.dec.Decode(c.Data, c.LinkType, c.Timestamp, &e.dp) != decode.OK {
		return
	}
	if e.cfg.Admit != nil && !e.cfg.Admit(&e.dp, c.Timestamp) {
		e.stats.Filtered++
		return
	}
	e.Handle(&e.dp, c.Timestamp, c.Frame, c.File)
}
