package evm

import (
	"encoding/binary"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/vm"
	"github.com/holiman/uint256"
)

// The devnet's tokens are a minimal ERC20 written directly in EVM assembly
// (no compiler is needed to build Inflow). It keeps real balances and emits
// the standard Transfer(address,address,uint256) log:
//
//	transfer(address,uint256)  0xa9059cbb  moves value from the caller, reverts if short
//	balanceOf(address)         0x70a08231
//	decimals()                 0x313ce567
//	totalSupply()              0x18160ddd
//
// Storage: the balance of address A is at slot uint256(A); the total supply at
// slot 2^256-1. Balances are seeded in the genesis allocation.

// asm is a tiny assembler: opcodes, pushes and labels with two-pass layout.
type asm struct {
	items []asmItem
}

type asmItem struct {
	op    vm.OpCode
	push  []byte // immediate for PUSHn
	label string // JUMPDEST name, or a PUSH2 of a label's address
	ref   bool
}

func (a *asm) op(ops ...vm.OpCode) *asm {
	for _, o := range ops {
		a.items = append(a.items, asmItem{op: o})
	}
	return a
}

func (a *asm) push(b []byte) *asm {
	a.items = append(a.items, asmItem{op: vm.PUSH1 + vm.OpCode(len(b)-1), push: b})
	return a
}

func (a *asm) push1(v byte) *asm { return a.push([]byte{v}) }

func (a *asm) jumpTo(label string) *asm {
	a.items = append(a.items, asmItem{op: vm.PUSH2, label: label, ref: true})
	return a
}

func (a *asm) dest(label string) *asm {
	a.items = append(a.items, asmItem{op: vm.JUMPDEST, label: label})
	return a
}

func (a *asm) assemble() []byte {
	pos := map[string]int{}
	n := 0
	for _, it := range a.items {
		if it.op == vm.JUMPDEST {
			pos[it.label] = n
		}
		n++
		if it.ref {
			n += 2
		} else {
			n += len(it.push)
		}
	}
	out := make([]byte, 0, n)
	for _, it := range a.items {
		out = append(out, byte(it.op))
		switch {
		case it.ref:
			p, ok := pos[it.label]
			if !ok {
				panic(fmt.Sprintf("devnet asm: unknown label %s", it.label))
			}
			out = binary.BigEndian.AppendUint16(out, uint16(p))
		default:
			out = append(out, it.push...)
		}
	}
	return out
}

var transferSig = common.HexToHash("0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")

// tokenCode returns the runtime code of a token with the given decimals.
func tokenCode(decimals uint8) []byte {
	a := &asm{}
	mask := make([]byte, 20)
	for i := range mask {
		mask[i] = 0xff
	}
	// Dispatch on the selector.
	a.push1(0).op(vm.CALLDATALOAD).push1(0xe0).op(vm.SHR)
	for _, s := range []struct {
		sel   []byte
		label string
	}{
		{[]byte{0xa9, 0x05, 0x9c, 0xbb}, "transfer"},
		{[]byte{0x70, 0xa0, 0x82, 0x31}, "balanceOf"},
		{[]byte{0x31, 0x3c, 0xe5, 0x67}, "decimals"},
		{[]byte{0x18, 0x16, 0x0d, 0xdd}, "totalSupply"},
	} {
		a.op(vm.DUP1).push(s.sel).op(vm.EQ).jumpTo(s.label).op(vm.JUMPI)
	}
	a.dest("fail").push1(0).op(vm.DUP1, vm.REVERT)

	// transfer(to, value)
	a.dest("transfer").op(vm.POP)
	a.push1(4).op(vm.CALLDATALOAD).push(mask).op(vm.AND) // [to]
	a.push1(0x24).op(vm.CALLDATALOAD)                    // [value, to]
	a.op(vm.CALLER, vm.SLOAD)                            // [bal, value, to]
	a.op(vm.DUP2, vm.DUP2, vm.LT).jumpTo("fail").op(vm.JUMPI)
	a.op(vm.DUP2, vm.SWAP1, vm.SUB) // [bal-value, value, to]
	a.op(vm.CALLER, vm.SSTORE)      // [value, to]
	a.op(vm.DUP2, vm.SLOAD)         // [tobal, value, to]
	a.op(vm.DUP2, vm.ADD)           // [tobal+value, value, to]
	a.op(vm.DUP3, vm.SSTORE)        // [value, to]
	a.push1(0).op(vm.MSTORE)        // mem[0]=value; [to]
	a.op(vm.CALLER).push(transferSig[:]).push1(32).push1(0).op(vm.LOG3)
	a.push1(1).push1(0).op(vm.MSTORE).push1(32).push1(0).op(vm.RETURN)

	// balanceOf(owner)
	a.dest("balanceOf").op(vm.POP).push1(4).op(vm.CALLDATALOAD, vm.SLOAD).push1(0).op(vm.MSTORE).push1(32).push1(0).op(vm.RETURN)
	// decimals()
	a.dest("decimals").op(vm.POP).push1(decimals).push1(0).op(vm.MSTORE).push1(32).push1(0).op(vm.RETURN)
	// totalSupply()
	a.dest("totalSupply").op(vm.POP).push1(0).op(vm.NOT, vm.SLOAD).push1(0).op(vm.MSTORE).push1(32).push1(0).op(vm.RETURN)
	return a.assemble()
}

// tokenStorage seeds balances and the total supply.
func tokenStorage(balances map[common.Address]*uint256.Int) map[common.Hash]common.Hash {
	st := map[common.Hash]common.Hash{}
	total := new(uint256.Int)
	for a, v := range balances {
		st[common.BytesToHash(a.Bytes())] = common.Hash(v.Bytes32())
		total.Add(total, v)
	}
	var max common.Hash
	for i := range max {
		max[i] = 0xff
	}
	st[max] = common.Hash(total.Bytes32())
	return st
}

// transferCall encodes transfer(to, value).
func transferCall(to common.Address, value *uint256.Int) []byte {
	data := make([]byte, 4, 68)
	copy(data, []byte{0xa9, 0x05, 0x9c, 0xbb})
	data = append(data, common.LeftPadBytes(to.Bytes(), 32)...)
	v := value.Bytes32()
	return append(data, v[:]...)
}
