/**
 * A modal dialog on the native <dialog> element: focus moves into it and is
 * kept there, Escape closes it, focus returns to the opener afterwards. Also
 * ConfirmDialog, the Cancel / danger-action question before a deletion.
 */
import { useEffect, useRef, type ReactNode } from 'react';
import { IconClose } from './icons.js';

export function Dialog({ open, title, onClose, children, wide }: { open: boolean; title: string; onClose(): void; children: ReactNode; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  const titleId = `dialog-${title.replace(/\W+/g, '-').toLowerCase()}`;
  return (
    <dialog
      ref={ref}
      className={`dialog${wide ? ' dialog-wide' : ''}`}
      aria-labelledby={titleId}
      onClose={onClose}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onClick={(e) => {
        if (e.target === ref.current) onClose(); // a click on the backdrop
      }}
    >
      {open && (
        <div className="dialog-body">
          <header className="dialog-head">
            <h2 id={titleId}>{title}</h2>
            <button type="button" className="icon-button" onClick={onClose} aria-label="Close">
              <IconClose />
            </button>
          </header>
          {children}
        </div>
      )}
    </dialog>
  );
}

/** A yes/no question about a destructive action: Cancel, or the danger button labelled `action`. */
export function ConfirmDialog({
  open,
  title,
  action,
  onCancel,
  onConfirm,
  children,
}: {
  open: boolean;
  title: string;
  action: string;
  onCancel(): void;
  onConfirm(): void;
  children: ReactNode;
}) {
  return (
    <Dialog open={open} title={title} onClose={onCancel}>
      <p>{children}</p>
      <div className="actions">
        <button type="button" className="button ghost" onClick={onCancel}>
          Cancel
        </button>
        <button type="button" className="button danger" onClick={onConfirm}>
          {action}
        </button>
      </div>
    </Dialog>
  );
}
