package events

import (
	"encoding/binary"
	"fmt"

	"github.com/inflowhq/inflow/pkg/chain"
)

// AddressRecord is one record of inflow.addresses, the compacted topic of
// watched addresses. Its Kafka key is chain.Address.Key (family byte, then the
// canonical address bytes), so compaction keeps the latest state per address.
// The value is version:u8(=1) id:uvarint; a nil value (a tombstone) stops
// watching the address.
type AddressRecord struct {
	Address chain.Address
	ID      uint64 // the registry's internal address id; never 0 for a watch
	Removed bool
}

// addressVersion is the version byte of an address record's value.
const addressVersion = 1

// Key is the record's Kafka key.
func (a AddressRecord) Key() []byte { return a.Address.Key() }

// Value is the record's Kafka value; nil for a removal.
func (a AddressRecord) Value() []byte {
	if a.Removed {
		return nil
	}
	return binary.AppendUvarint([]byte{addressVersion}, a.ID)
}

// ParseAddressRecord decodes a record of inflow.addresses.
func ParseAddressRecord(key, value []byte) (AddressRecord, error) {
	addr, err := chain.AddressFromKey(key)
	if err != nil {
		return AddressRecord{}, fmt.Errorf("%w: address key: %v", ErrCorrupt, err)
	}
	if value == nil {
		return AddressRecord{Address: addr, Removed: true}, nil
	}
	if len(value) < 2 || value[0] != addressVersion {
		return AddressRecord{}, fmt.Errorf("%w: address value of %d bytes, version %d", ErrCorrupt, len(value), firstByte(value))
	}
	id, n := binary.Uvarint(value[1:])
	if n <= 0 || 1+n != len(value) || id == 0 {
		return AddressRecord{}, fmt.Errorf("%w: address id", ErrCorrupt)
	}
	return AddressRecord{Address: addr, ID: id}, nil
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
